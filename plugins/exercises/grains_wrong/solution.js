// Bug: square 0 is accepted (and gives 0 grains).
export const square = (n) => {
  if (n < 0 || n > 64) {
    throw new Error("square must be between 1 and 64");
  }
  return n === 0 ? 0n : 2n ** BigInt(n - 1);
};

export const total = () => 2n ** 64n - 1n;
