def sum(factors, limit):  # noqa: A001 - the exercise's WIT names it `sum`
    total = 0
    for m in {m for f in factors if f for m in range(f, limit, f)}:
        total += m
    return total
