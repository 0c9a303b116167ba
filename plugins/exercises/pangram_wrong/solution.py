from string import ascii_lowercase


# Bug: counts lower-case letters only.
def is_pangram(sentence):
    return set(ascii_lowercase) <= set(sentence)
