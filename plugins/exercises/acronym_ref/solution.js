export const abbreviate = (phrase) =>
  (phrase.replace(/'/g, "").match(/[A-Za-z]+/g) || [])
    .map((word) => word[0].toUpperCase())
    .join("");
