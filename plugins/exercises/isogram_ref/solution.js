export const isIsogram = (phrase) => {
  const letters = phrase.toLowerCase().replace(/[^a-z]/g, "");
  return new Set(letters).size === letters.length;
};
