def transform(legacy_data):
    return {
        letter.lower(): int(score)
        for score, letters in legacy_data.items()
        for letter in letters
    }
