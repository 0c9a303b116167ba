// Bug: no length check.
export const distance = (a, b) =>
  [...a].filter((c, i) => i < b.length && c !== b[i]).length;
