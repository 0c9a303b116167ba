// Bug: counts lower-case letters only.
export const isPangram = (sentence) =>
  [..."abcdefghijklmnopqrstuvwxyz"].every((c) => sentence.includes(c));
