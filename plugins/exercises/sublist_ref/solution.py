def contains(big, small):
    return any(big[i:i + len(small)] == small for i in range(len(big) - len(small) + 1))


def sublist(list_one, list_two):
    if list_one == list_two:
        return "EQUAL"
    if contains(list_two, list_one):
        return "SUBLIST"
    if contains(list_one, list_two):
        return "SUPERLIST"
    return "UNEQUAL"
