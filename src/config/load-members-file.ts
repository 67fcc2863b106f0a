/**
 * Reads a members file from disk and validates it (members-file.ts). Kept apart from the schema so that
 * the modules that only need the members' shape (the pure restore planner) never reach the file system.
 */
import { readFile } from 'node:fs/promises';
import { DrError } from '../core/errors.js';
import { parseMembersYaml, type MembersFile } from './members-file.js';

export async function loadMembersFile(file: string): Promise<MembersFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DrError('CONFIG_INVALID', `members file ${file}: cannot be read: ${(err as Error).message}`, {
      source: file,
    });
  }
  return parseMembersYaml(text, file);
}
