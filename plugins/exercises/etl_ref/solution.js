export const transform = (legacy) => {
  const out = {};
  for (const [score, letters] of Object.entries(legacy)) {
    for (const letter of letters) out[letter.toLowerCase()] = Number(score);
  }
  return out;
};
