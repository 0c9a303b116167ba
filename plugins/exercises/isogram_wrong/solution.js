// Bug: case-sensitive.
export const isIsogram = (phrase) => {
  const letters = phrase.replace(/[^A-Za-z]/g, "");
  return new Set(letters).size === letters.length;
};
