# Bug: no default name.
def two_fer(name=None):
    return f"One for {name or ''}, one for me."
