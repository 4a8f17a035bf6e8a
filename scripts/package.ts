// `npm run package`: the deployable package of the function app, holding only what the Functions host loads.
// The compiled entry points (dist/functions/*.js) are bundled with their dependencies by esbuild, so the package
// needs no node_modules: .package/app/ is the folder (azd deploys it, azure.yaml "dist"), .package/allowlist-drift.zip
// the same files zipped for a zip deployment.
//
//   npm run package      (builds, then runs the compiled dist/scripts/package.js)
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync } from 'node:zlib';
import { build } from 'esbuild';

/** The nearest folder with package.json: the repository, whether this runs from scripts/ or from dist/scripts/. */
function projectRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(folder, 'package.json'))) {
    const parent = dirname(folder);
    if (parent === folder) throw new Error('no package.json above scripts/package');
    folder = parent;
  }
  return folder;
}

const root = projectRoot();

/** The worker provides it at run time ("@azure/functions" requires it); it is in no npm package. */
const PROVIDED_BY_THE_HOST = ['@azure/functions-core'];

/** Where the host looks for the functions: a glob over the bundled entry points, like the repository's own "main". */
export const PACKAGE_MAIN = 'functions/*.js';

export const ZIP_NAME = 'allowlist-drift.zip';

/** Copied as they are: the host's settings and the config file ALLOWLIST_CONFIG_PATH names in Azure. */
const COPIED = ['host.json', 'allowlist-drift.config.json'];

/**
 * The folder of configs an app with several keeps (ALLOWLIST_CONFIG_DIR=configs, from the azd value ALLOWLIST_FOLDER):
 * its `*.json` files are copied when the checkout has it, so they deploy with the code like the single config.
 */
export const CONFIG_FOLDER = 'configs';

export interface Package {
  /** The folder azd deploys: the files of the zip. */
  readonly app: string;
  readonly zip: string;
}

export async function buildPackage({
  out = join(root, '.package'),
  configFolder = join(root, CONFIG_FOLDER),
}: {
  out?: string;
  /** Where the configs folder is read from (tests give a sample one); it lands in the package as configs/. */
  configFolder?: string;
} = {}): Promise<Package> {
  const functions = join(root, 'dist', 'functions');
  const entryPoints = listEntryPoints(functions);
  const app = join(out, 'app');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(app, { recursive: true });

  await build({
    entryPoints,
    outdir: app,
    entryNames: 'functions/[name]',
    // Shared code and what the handlers import on first use land in chunks outside the "main" glob, so start-up
    // still loads only what registering the functions needs.
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    external: PROVIDED_BY_THE_HOST,
    // CommonJS dependencies (the Azure SDKs) call require(); an ES module has none unless it makes one.
    banner: { js: "import { createRequire as __packageRequire } from 'node:module'; const require = __packageRequire(import.meta.url);" },
    // Identifiers keep their names, so a stack trace in Application Insights still reads (+15 % zipped over full minify).
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });

  for (const file of COPIED) cpSync(join(root, file), join(app, file));
  if (existsSync(configFolder)) {
    mkdirSync(join(app, CONFIG_FOLDER));
    // The configs only: a README or a draft sub-folder beside them stays in the checkout.
    for (const name of readdirSync(configFolder).filter((name) => name.endsWith('.json') && statSync(join(configFolder, name)).isFile()))
      cpSync(join(configFolder, name), join(app, CONFIG_FOLDER, name));
  }
  const source = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; engines: unknown };
  const manifest = {
    name: source.name,
    version: source.version,
    private: true,
    type: 'module',
    main: PACKAGE_MAIN,
    engines: source.engines,
  };
  writeFileSync(join(app, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);

  const zip = join(out, ZIP_NAME);
  writeFileSync(zip, zipFolder(app));
  return { app, zip };
}

function listEntryPoints(functions: string): string[] {
  let names: string[];
  try {
    names = readdirSync(functions).filter((name) => name.endsWith('.js'));
  } catch {
    names = [];
  }
  if (names.length === 0) throw new Error(`no compiled functions in ${functions}: run \`npm run build\` first (npm run package does)`);
  return names.map((name) => join(functions, name));
}

export function listFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? listFiles(join(folder, entry.name)) : [join(folder, entry.name)]))
    .sort();
}

/**
 * A zip of every file under `folder`, deflated, with fixed timestamps so the same files give the same bytes.
 * Written here because Node has no zip writer and a `zip` program is not on every machine that deploys.
 */
export function zipFolder(folder: string): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const file of listFiles(folder)) {
    const name = Buffer.from(relative(folder, file).split(sep).join('/'));
    const data = readFileSync(file);
    const deflated = deflateRawSync(data, { level: 9 });
    const fields = { crc: crc32(data), compressed: deflated.length, size: data.length };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeCommon(local, 4, fields, name.length);
    locals.push(local, name, deflated);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so unzip reads the file mode below
    writeCommon(central, 6, fields, name.length);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // a regular file, rw-r--r--, whatever the umask of the build
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + deflated.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** The fields local and central headers share, from "version needed" to the extra-field length. */
interface ZipFields {
  readonly crc: number;
  readonly compressed: number;
  readonly size: number;
}

function writeCommon(header: Buffer, at: number, { crc, compressed, size }: ZipFields, nameLength: number): void {
  header.writeUInt16LE(20, at); // version needed: deflate
  header.writeUInt16LE(0x0800, at + 2); // names are UTF-8
  header.writeUInt16LE(8, at + 4); // deflate
  header.writeUInt16LE(0, at + 6); // 00:00:00
  header.writeUInt16LE((0 << 9) | (1 << 5) | 1, at + 8); // 1980-01-01, the earliest date a zip holds
  header.writeUInt32LE(crc, at + 10);
  header.writeUInt32LE(compressed, at + 14);
  header.writeUInt32LE(size, at + 18);
  header.writeUInt16LE(nameLength, at + 22);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** zlib.crc32 arrived in Node 22.2; packaging also runs under the older Node of some development machines. */
function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { app, zip } = await buildPackage();
    console.log(`packaged the function app in ${relative(root, app)} and ${relative(root, zip)} (${statSync(zip).size} bytes)`);
  } catch (error) {
    console.error(`package: ${(error as Error).message}`);
    process.exit(1);
  }
}
