// Bug: forgets the 400 rule.
export const leapYear = (year) => year % 4 === 0 && year % 100 !== 0;
