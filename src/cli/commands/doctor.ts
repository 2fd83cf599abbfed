// `tessera doctor`: what the engine is actually running on. The BLAS line matters most: Debian's
// libtorch calls the system libblas.so.3, and if the reference BLAS is selected there, matmul and
// convolutions are roughly an order of magnitude slower with no error anywhere.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import { defineCommand } from '../command.js';

export type BlasKind =
  'openblas-pthread' | 'openblas-openmp' | 'openblas-serial' | 'openblas' | 'reference' | 'mkl' | 'blis' | 'flexiblas' | 'atlas' | 'other' | 'not-found';

export interface BlasInfo {
  kind: BlasKind;
  label: string;
  /** Mapped BLAS/LAPACK shared objects (real paths, as the kernel reports them). */
  paths: string[];
}

const BLAS_RE = /^lib(openblas|blas|cblas|lapack|mkl_|blis|flexiblas|atlas|satlas|tatlas)/;

/** Pathnames of the shared objects in a /proc/<pid>/maps text, deduplicated, in order. */
export function mappedLibraries(maps: string): string[] {
  const out = new Set<string>();
  for (const line of maps.split('\n')) {
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\/.+)$/.exec(line);
    if (m && /\.so(\.|$)|\.node$/.test(m[1]!)) out.add(m[1]!.replace(/ \(deleted\)$/, ''));
  }
  return [...out];
}

/** Which BLAS the mapped libraries amount to. */
export function classifyBlas(libs: readonly string[]): BlasInfo {
  const paths = libs.filter((p) => BLAS_RE.test(basename(p)));
  const has = (re: RegExp) => paths.some((p) => re.test(p));
  const r = (kind: BlasKind, label: string): BlasInfo => ({ kind, label, paths });
  if (has(/openblas-pthread\//)) return r('openblas-pthread', 'OpenBLAS (pthread)');
  if (has(/openblas-openmp\//)) return r('openblas-openmp', 'OpenBLAS (OpenMP)');
  if (has(/openblas-serial\//)) return r('openblas-serial', 'OpenBLAS (serial, single-threaded)');
  if (has(/libopenblas/)) return r('openblas', 'OpenBLAS');
  if (has(/libmkl_/)) return r('mkl', 'Intel MKL');
  if (has(/libblis/)) return r('blis', 'BLIS');
  if (has(/libflexiblas/)) return r('flexiblas', 'FlexiBLAS');
  if (has(/atlas/)) return r('atlas', 'ATLAS');
  // Debian's reference implementation lives in /usr/lib/<triplet>/blas/ (netlib, unoptimized).
  if (has(/\/blas\/libblas\.so/)) return r('reference', 'reference BLAS (netlib, unoptimized)');
  if (paths.length) return r('other', 'unrecognized BLAS');
  return r('not-found', 'none mapped (statically linked into libtorch?)');
}

function blasFix(info: BlasInfo): string {
  const triplet = /\/usr\/lib\/([^/]+)\//.exec(info.paths[0] ?? '')?.[1] ?? 'x86_64-linux-gnu';
  return (
    `install libopenblas0-pthread and select it: sudo update-alternatives --set libblas.so.3-${triplet} ` +
    `/usr/lib/${triplet}/openblas-pthread/libblas.so.3 (bash scripts/setup.sh does this)`
  );
}

export interface DoctorReport {
  tessera: string;
  node: string;
  platform: string;
  addon: string | null;
  libtorch: { version: string; library: string | null };
  threads: { intraOp: number; blas: number | null; interOp: number | null; cpus: number; backend: string | null; env: string | null };
  blas: BlasInfo;
  matmul: { size: number; gflops: number };
  cuda: { available: boolean; devices: number };
  mkldnn: boolean;
  warnings: string[];
}

export const command = defineCommand({
  name: 'doctor',
  summary: 'check the installation: libtorch, threads, BLAS, CUDA, MKL-DNN',
  description:
    'Loads the native engine, runs a float32 matmul and reports the libtorch version, thread count, ' +
    'the BLAS library actually mapped into the process (from /proc/self/maps), its matmul speed, ' +
    'CUDA and MKL-DNN availability. Exits 1 if the engine cannot be loaded; problems that only ' +
    'cost speed are printed as warnings.',
  options: {
    json: { type: 'boolean', help: 'print the report as JSON' },
    matmulSize: { type: 'number', integer: true, min: 16, max: 8192, default: 512, help: 'side of the square matmul timed for the BLAS check' },
  },
  async run(opts, _pos, ctx) {
    let T: typeof import('../../torch/index.js');
    try {
      T = await import('../../torch/index.js');
    } catch (e) {
      const msg = (e as Error).message.split('\n')[0]!;
      if (opts.json) ctx.out(JSON.stringify({ ok: false, error: msg }));
      else ctx.err(`engine: cannot load the native addon: ${msg}\n  fix: npm run build (or bash scripts/setup.sh)`);
      return 1;
    }
    const info = T.buildInfo();
    const n = opts.matmulSize;

    // Time a matmul; this also makes libtorch load its BLAS so /proc/self/maps shows it.
    const gflops = T.tidy(() => {
      const a = T.randn([n, n]);
      const b = T.randn([n, n]);
      T.matmul(a, b).dispose();
      let reps = 0;
      const t0 = process.hrtime.bigint();
      let dt: number;
      do {
        T.matmul(a, b).dispose();
        reps++;
        dt = Number(process.hrtime.bigint() - t0) / 1e9;
      } while (dt < 0.25 && reps < 50);
      return (2 * n ** 3 * reps) / dt / 1e9;
    });

    const libs = existsSync('/proc/self/maps') ? mappedLibraries(readFileSync('/proc/self/maps', 'utf8')) : [];
    const blas = classifyBlas(libs);
    const field = (re: RegExp) => re.exec(info.parallelInfo)?.[1]?.trim() ?? null;
    const interOp = field(/get_num_interop_threads\(\)\s*:\s*(\d+)/);
    const report: DoctorReport = {
      tessera: ctx.version,
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      addon: libs.find((p) => p.endsWith('/tessera.node')) ?? null,
      libtorch: { version: info.torchVersion, library: libs.find((p) => /\/libtorch_cpu\.(so|dylib)/.test(p)) ?? null },
      threads: {
        intraOp: T.getNumThreads(),
        blas: T.getBlasThreads(),
        interOp: interOp === null ? null : Number(interOp),
        cpus: availableParallelism(),
        backend: field(/ATen parallel backend:\s*(.+)/),
        env: process.env.TESSERA_THREADS ?? null,
      },
      blas,
      matmul: { size: n, gflops: Math.round(gflops * 10) / 10 },
      cuda: { available: info.cudaAvailable, devices: info.cudaDeviceCount },
      mkldnn: info.mkldnn,
      warnings: [],
    };
    if (blas.kind === 'reference') report.warnings.push(`reference BLAS in use (matmul ~10x slower); fix: ${blasFix(blas)}`);
    if (blas.kind === 'openblas-serial' && report.threads.cpus > 1) {
      report.warnings.push(`single-threaded OpenBLAS in use; fix: ${blasFix(blas)}`);
    }

    if (opts.json) {
      ctx.out(JSON.stringify({ ok: true, ...report }, null, 2));
      return 0;
    }
    const t = report.threads;
    const rows: [string, string][] = [
      ['tessera', `${report.tessera} (node ${report.node}, ${report.platform})`],
      ['addon', report.addon ?? '(not found in /proc/self/maps)'],
      ['libtorch', `${report.libtorch.version}${report.libtorch.library ? ` (${report.libtorch.library})` : ''}`],
      [
        'threads',
        `${t.intraOp} intra-op${t.blas === null ? '' : ` (OpenBLAS ${t.blas})`}${t.interOp === null ? '' : `, ${t.interOp} inter-op`} on ${t.cpus} CPUs` +
          `${t.backend ? `, ${t.backend} backend` : ''} (TESSERA_THREADS=${t.env ?? 'unset'})`,
      ],
      ['BLAS', `${blas.label}${blas.paths.length ? ': ' + blas.paths.join(', ') : ''}`],
      ['matmul', `${n}x${n} float32: ${report.matmul.gflops} GFLOP/s`],
      ['CUDA', report.cuda.available ? `available, ${report.cuda.devices} device(s)` : 'not available'],
      ['MKL-DNN', report.mkldnn ? 'yes' : 'no'],
    ];
    const w = Math.max(...rows.map(([k]) => k.length));
    for (const [k, v] of rows) ctx.out(`${k.padEnd(w)}  ${v}`);
    for (const warning of report.warnings) ctx.out(`warning: ${warning}`);
    return 0;
  },
});
