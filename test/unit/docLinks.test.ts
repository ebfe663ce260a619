import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Every relative link in README.md and docs/*.md must reach an existing file,
 * and an anchor must name a heading of that file, so moving a section between
 * documents cannot leave readers at a dead end. A small parser instead of a
 * Markdown library: none is installed, and the docs use only inline links and
 * ATX headings.
 */

const ROOT = path.resolve(__dirname, '../..');

/** Text outside fenced code blocks and inline code, where links and headings live. */
function proseLines(markdown: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (!fence || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence ? undefined : marker;
      continue;
    }
    if (!fence) lines.push(line.replace(/(`+)[^`]*?\1/g, ''));
  }
  return lines;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (!fence || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence ? undefined : marker;
      continue;
    }
    const heading = fence ? undefined : /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Inline link and image targets, without titles. */
function linkTargets(markdown: string): string[] {
  const targets: string[] = [];
  for (const line of proseLines(markdown)) {
    for (const match of line.matchAll(/!?\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (match[1]) targets.push(match[1]);
    }
  }
  return targets;
}

/** What is wrong with each relative link of `file` (repository-relative), as readable sentences. */
function brokenLinks(file: string, read: (file: string) => string | undefined): string[] {
  const markdown = read(file);
  if (markdown === undefined) return [`${file} does not exist`];
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: and the like
    const [rawPath = '', anchor] = target.split('#', 2);
    const linked = rawPath
      ? path.posix.normalize(path.posix.join(path.posix.dirname(file), decodeURIComponent(rawPath)))
      : file;
    const text = read(linked);
    if (text === undefined) {
      problems.push(`${file}: link ${target} points at ${linked}, which does not exist`);
      continue;
    }
    if (anchor && linked.endsWith('.md') && !headingAnchors(text).has(anchor.toLowerCase())) {
      problems.push(`${file}: link ${target} names #${anchor}, which is no heading of ${linked}`);
    }
  }
  return problems;
}

function readFromRepo(file: string): string | undefined {
  const full = path.join(ROOT, file);
  if (!existsSync(full)) return undefined;
  return statSync(full).isDirectory() ? '' : readFileSync(full, 'utf8');
}

const DOCS = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

describe('links between the README and docs/', () => {
  it.each(DOCS)('every relative link in %s reaches an existing file and heading', (file) => {
    expect(brokenLinks(file, readFromRepo)).toEqual([]);
  });

  it('the docs link each other: every file of docs/ is reachable from the README', () => {
    const reached = new Set<string>(['README.md']);
    const queue = ['README.md'];
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) {
      const markdown = readFromRepo(file) ?? '';
      for (const target of linkTargets(markdown)) {
        const rawPath = target.split('#', 1)[0] ?? '';
        if (!rawPath || /^[a-z][a-z0-9+.-]*:/i.test(rawPath)) continue;
        const linked = path.posix.normalize(path.posix.join(path.posix.dirname(file), rawPath));
        if (linked.endsWith('.md') && !reached.has(linked)) {
          reached.add(linked);
          queue.push(linked);
        }
      }
    }
    expect(DOCS.filter((file) => !reached.has(file))).toEqual([]);
  });

  it('the checker reports a missing file, a missing heading and ignores links inside code', () => {
    const files: Record<string, string> = {
      'docs/a.md': [
        '# A',
        '## Fleet view: `tenants`',
        'See [b](b.md#forwarding-the-forwardauditevents-function), [gone](gone.md),',
        '[bad anchor](b.md#no-such-heading), [own](#fleet-view-tenants), [up](../README.md#layout).',
        '`[not a link](nowhere.md)`',
        '```md',
        '[also not](nowhere.md)',
        '```',
      ].join('\n'),
      'docs/b.md': '# B\n\n## Forwarding (the `forwardAuditEvents` function)\n',
      'README.md': '# R\n\n## Layout\n',
    };
    expect(brokenLinks('docs/a.md', (file) => files[file])).toEqual([
      'docs/a.md: link gone.md points at docs/gone.md, which does not exist',
      'docs/a.md: link b.md#no-such-heading names #no-such-heading, which is no heading of docs/b.md',
    ]);
  });

  it('numbers repeated headings as GitHub does', () => {
    expect([...headingAnchors('## Roll back\n### Roll back\n## C#, .NET & co.')]).toEqual([
      'roll-back',
      'roll-back-1',
      'c-net--co',
    ]);
  });
});
