export const distance = (a, b) => {
  if (a.length !== b.length) {
    throw new Error("strands must be of equal length");
  }
  return [...a].filter((c, i) => c !== b[i]).length;
};
