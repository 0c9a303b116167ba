# Bug: reads only the first digit of the score ("10" becomes 1).
def transform(legacy_data):
    return {
        letter.lower(): int(score[0])
        for score, letters in legacy_data.items()
        for letter in letters
    }
