export const isPangram = (sentence) => {
  const lower = sentence.toLowerCase();
  return [..."abcdefghijklmnopqrstuvwxyz"].every((c) => lower.includes(c));
};
