# Bug: treats the lists as sets.
def sublist(list_one, list_two):
    if list_one == list_two:
        return "EQUAL"
    if all(x in list_two for x in list_one):
        return "SUBLIST"
    if all(x in list_one for x in list_two):
        return "SUPERLIST"
    return "UNEQUAL"
