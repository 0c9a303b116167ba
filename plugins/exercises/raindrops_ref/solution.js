export const convert = (n) => {
  let out = "";
  if (n % 3 === 0) out += "Pling";
  if (n % 5 === 0) out += "Plang";
  if (n % 7 === 0) out += "Plong";
  return out || String(n);
};
