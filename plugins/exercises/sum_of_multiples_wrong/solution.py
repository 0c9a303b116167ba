# Bug: a multiple of two factors counts twice.
def sum(factors, limit):  # noqa: A001
    total = 0
    for f in factors:
        if f:
            for m in range(f, limit, f):
                total += m
    return total
