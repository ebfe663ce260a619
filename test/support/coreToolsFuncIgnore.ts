/**
 * The matcher `func azure functionapp publish` really applies to .funcignore,
 * ported from Azure/azure-functions-core-tools
 * src/Cli/func/Common/GitIgnoreParser.cs (commit
 * 4589f9fb266f545345d24aa76565cc5a2fc2330e), itself a C# port of
 * codemix/gitignore-parser. It is not gitignore's algorithm: patterns become
 * prefix regular expressions, and a file is accepted when any `!` pattern
 * matches it, wherever that line stands, or when no other pattern does.
 */
export class CoreToolsFuncIgnore {
  private readonly positive: RegExp;
  private readonly negative: RegExp;

  constructor(content: string) {
    const positive: string[] = [];
    const negative: string[] = [];
    for (const raw of content.split('\n')) {
      let line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const isNegative = line.startsWith('!');
      if (isNegative) line = line.substring(1);
      if (line.startsWith('/')) line = line.substring(1);
      (isNegative ? negative : positive).push(line);
    }
    this.positive = compile(positive);
    this.negative = compile(negative);
  }

  /** `path` as Core Tools builds it: relative to the app root, `/`-separated, files only. */
  accepts(path: string): boolean {
    const input = path === '/' ? '' : path;
    return this.negative.test(input) || !this.positive.test(input);
  }
}

// The C# sorts patterns first; alternation order cannot change whether a match exists.
function compile(patterns: string[]): RegExp {
  if (patterns.length === 0) return /$^/;
  return new RegExp(`^((${patterns.map(prepare).join(')|(')}))\\b`);
}

function prepare(pattern: string): string {
  return pattern
    .replace(/[-[\]/{}()+?.\\^$|]/g, '\\$&')
    .replaceAll('**', '(.+)')
    .replaceAll('*', '([^\\/]+)');
}
