// Bug: splits on whitespace only, so "metal-oxide" is one word.
export const abbreviate = (phrase) =>
  phrase
    .split(/\s+/)
    .map((word) => (word.match(/[A-Za-z]/) || [""])[0].toUpperCase())
    .join("");
