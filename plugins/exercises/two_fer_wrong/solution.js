// Bug: no default name.
export const twoFer = (name = null) => `One for ${name ?? ""}, one for me.`;
