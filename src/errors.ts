/** A mistake the user can fix (bad path, bad option, bad file). The CLI prints its message on one line, no stack. */
export class UserError extends Error {
  override name = 'UserError';
}
