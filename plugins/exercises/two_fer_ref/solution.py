def two_fer(name=None):
    return f"One for {name or 'you'}, one for me."
