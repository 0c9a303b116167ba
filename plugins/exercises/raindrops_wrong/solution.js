// Bug: only the first matching sound.
export const convert = (n) => {
  if (n % 3 === 0) return "Pling";
  if (n % 5 === 0) return "Plang";
  if (n % 7 === 0) return "Plong";
  return String(n);
};
