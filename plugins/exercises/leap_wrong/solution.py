# Bug: forgets the 400 rule.
def leap_year(year):
    return year % 4 == 0 and year % 100 != 0
