# Bug: no triangle inequality.
def valid(sides):
    return all(s > 0 for s in sides)


def equilateral(sides):
    return valid(sides) and len(set(sides)) == 1


def isosceles(sides):
    return valid(sides) and len(set(sides)) <= 2


def scalene(sides):
    return valid(sides) and len(set(sides)) == 3
