# Bug: square 0 is accepted (and gives 0 grains).
def square(number):
    if not 0 <= number <= 64:
        raise ValueError("square must be between 1 and 64")
    return 2 ** (number - 1) if number else 0


def total():
    return 2 ** 64 - 1
