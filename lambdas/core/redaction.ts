/**
 * Reasons name fields and rules, never values. Texts that come from outside (DANAConnect's `errorDescription`,
 * copied into reports and `GET /jobs` answers) may echo a contact's data; before they are kept anywhere, what
 * looks like an email address or a phone number in them is masked here, the one place that does it:
 * - an email address keeps the first character of its local part and of its domain, and its top-level domain:
 *   `jane.doe@example.com` → `j***@e***.com`;
 * - a phone number (7 to 15 digits, optionally after `+`, with single spaces, dots, dashes or parentheses between
 *   them) keeps its `+` and last two digits: `+1 (555) 010-0123` → `+***23`. A date written with digits only
 *   (`2025-11-25`) looks the same and is masked too; that costs a reason nothing.
 * Masking is idempotent: a masked text is left as it is.
 */

/** Longer texts are cut before masking (the reasons they go into are cut far shorter), so the scan stays cheap. */
export const MAX_MASKED_INPUT_CHARS = 4000;

// Domain labels are separated by dots, so the domain part cannot backtrack over itself.
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
// 7..15 digits with at most two separator characters between two digits; not inside a longer word or number.
const PHONE = /(?<![\w+])\+?\(?\d(?:[ .()-]{0,2}\d){6,14}(?![\w])/g;

function maskEmail(address: string): string {
  const at = address.indexOf('@');
  const domain = address.slice(at + 1);
  const lastDot = domain.lastIndexOf('.');
  return `${address[0]}***@${domain[0]}***${domain.slice(lastDot)}`;
}

function maskPhone(number: string): string {
  const digits = number.replace(/\D/g, '');
  return `${number.startsWith('+') ? '+' : ''}***${digits.slice(-2)}`;
}

/** The text with every email address and phone number in it masked (see above). */
export function maskPersonalData(text: string): string {
  const bounded = text.length > MAX_MASKED_INPUT_CHARS ? text.slice(0, MAX_MASKED_INPUT_CHARS) : text;
  return bounded.replace(EMAIL, maskEmail).replace(PHONE, maskPhone);
}
