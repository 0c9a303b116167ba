# Bug: the aliquot sum starts at 1, even for 1 itself.
def classify(number):
    if number < 1:
        raise ValueError("Classification is only possible for positive integers.")
    total = 1
    i = 2
    while i * i <= number:
        if number % i == 0:
            total += i
            if i != number // i:
                total += number // i
        i += 1
    if total == number:
        return "perfect"
    return "abundant" if total > number else "deficient"
