export const twoFer = (name = null) => `One for ${name ?? "you"}, one for me.`;
