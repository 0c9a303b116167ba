PERIODS = {
    "mercury": 0.2408467,
    "venus": 0.61519726,
    "earth": 1.0,
    "mars": 1.8808158,
    "jupiter": 11.862615,
    "saturn": 29.447498,
    "uranus": 84.016846,
    "neptune": 164.79132,
}


# Bug: a year of 365 days.
def age(planet, seconds):
    if planet not in PERIODS:
        raise ValueError("not a planet")
    return seconds / (365 * 24 * 3600) / PERIODS[planet]
