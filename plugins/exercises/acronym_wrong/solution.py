# Bug: splits on whitespace only, so "metal-oxide" is one word (like the
# Rust acronym_wrong).
def abbreviate(words):
    out = []
    for word in words.split():
        letters = [c for c in word if c.isalpha()]
        if letters:
            out.append(letters[0].upper())
    return "".join(out)
