/**
 * Shell quoting for the command lines a restore shows (the plan, manual control) and hands to a remote
 * shell (ssh hosts). Pure string work, apart from host.ts, so that the planner can print commands without
 * reaching the modules that run them.
 */
/** POSIX single-quote quoting for a command string handed to a remote shell. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellLine(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}
