/** A config with one policy and a block of it given as YAML, and its errors as file:line:col lines. */
import { validateConfigText } from '../../src/config/load.js';

export const policyConfig = (block: string, storage = '[disk, far]') => `clusters:
  - name: main
    endpoints: [127.0.0.1:2379]
storage:
  - name: disk
    url: file:///var/backups/etcd
  - name: far
    url: file:///mnt/far
policies:
  - name: hourly
    cluster: main
    schedule: "0 * * * *"
    storage: ${storage}
${block}
`;

export const errorsOf = (text: string): string[] => {
  const r = validateConfigText(text, 'dr.yaml', { offline: true });
  return r.ok ? [] : r.errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.path}: ${e.message}`);
};
