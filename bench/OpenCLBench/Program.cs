// OpenCL benchmark on device N (default 0):
//
//   dotnet run -c Release --project bench/OpenCLBench -- [--gpu N] [--seconds 1] [--builds-only] [--shape MxNxK]...
//
// 1. Builds the four kernel programs and prints, for each, whether it came from the disk cache
//    ($ENGINE_OPENCL_CACHE or ~/.cache/engine/opencl) and how long it took: run it twice to see
//    the second process load binaries instead of compiling.
// 2. GEMM GFLOP/s (2·m·n·k / best time per call) of the engine's tiled kernel, of CLBlast when
//    libclblast1 is installed, and of the CPU's Blas.Sgemm, after checking both OpenCL results
//    against the CPU's.
using System.Diagnostics;
using System.Globalization;
using Engine.Backends;
using Engine.Cpu;
using Engine.OpenCL;

int gpu = 0;
double seconds = 1;
bool buildsOnly = false;
var shapes = new List<(int m, int n, int k)>();
for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--gpu": gpu = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--seconds": seconds = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--builds-only": buildsOnly = true; break;
        case "--shape":
            var p = Next().Split('x').Select(int.Parse).ToArray();
            shapes.Add((p[0], p[1], p[2]));
            break;
        default: throw new ArgumentException($"unknown argument {args[i]}");
    }
}
if (shapes.Count == 0) shapes = [(256, 256, 256), (512, 512, 512), (1024, 1024, 1024), (50, 64, 500), (64, 500, 800), (500, 800, 64)];

if (OpenCLDevices.All.Count <= gpu)
{
    Console.WriteLine($"no OpenCL device {gpu}: {OpenCLDevices.WhyNone ?? $"{OpenCLDevices.All.Count} devices"}");
    return 1;
}
var device = OpenCLDevices.All[gpu];
Console.WriteLine($"device {gpu}: {device.Describe()} (driver {device.DriverVersion}), cache {ProgramCache.DefaultDirectory()}");
var total = Stopwatch.StartNew();
using var backend = new OpenCLBackend(device);
foreach (var program in backend.Warm())
    Console.WriteLine($"  program {program.Name,-12} {(program.FromCache ? "loaded from cache" : "compiled"),-18} {program.BuildTime.TotalMilliseconds,8:F0} ms");
Console.WriteLine($"  all programs ready in {total.Elapsed.TotalMilliseconds:F0} ms");
if (buildsOnly) return 0;

bool clblast = ClBlast.TryLoad();
Console.WriteLine($"\nGEMM GFLOP/s (C = A·B, row-major; best of {seconds}s per entry){(clblast ? "" : "; CLBlast not installed")}");
Console.WriteLine($"{"shape",-16} {"engine kernel",14} {"CLBlast",10} {"CPU Blas",10}");
var rng = new Random(1);
foreach (var (m, n, k) in shapes)
{
    var a = Enumerable.Range(0, m * k).Select(_ => rng.NextSingle() - 0.5f).ToArray();
    var b = Enumerable.Range(0, k * n).Select(_ => rng.NextSingle() - 0.5f).ToArray();
    var expected = new float[m * n];
    Blas.Sgemm(false, false, m, n, k, 1f, a, b, 0f, expected);
    var ctx = backend.Context;
    using var da = ctx.Allocate(a.Length);
    using var db = ctx.Allocate(b.Length);
    using var dc = ctx.Allocate(m * n);
    ctx.Write(da, 0, a);
    ctx.Write(db, 0, b);

    double Check(Action run, string what)
    {
        run();
        ctx.Finish();
        var got = new float[m * n];
        ctx.Read(dc, 0, got);
        double worst = 0;
        for (int i = 0; i < got.Length; i++) worst = Math.Max(worst, Math.Abs(got[i] - expected[i]) / Math.Max(1, Math.Abs(expected[i])));
        if (worst > 1e-4) throw new InvalidOperationException($"{what} {m}x{n}x{k}: relative error {worst}");
        return Time(() => { run(); ctx.Finish(); });
    }

    double flops = 2.0 * m * n * k;
    double ours = Check(() => backend.Gemm(false, false, m, n, k, 1f, da.All, k, db.All, n, 0f, dc.All, n), "engine kernel");
    double blast = clblast ? Check(() => ClBlast.Sgemm(ctx, false, false, m, n, k, 1f, da, 0, k, db, 0, n, 0f, dc, 0, n), "CLBlast") : double.NaN;
    var c = new float[m * n];
    double cpu = Time(() => Blas.Sgemm(false, false, m, n, k, 1f, a, b, 0f, c));
    static string G(double f, double t) => double.IsNaN(t) ? "-" : (f / t / 1e9).ToString("F1", CultureInfo.InvariantCulture);
    Console.WriteLine($"{$"{m}x{n}x{k}",-16} {G(flops, ours),14} {G(flops, blast),10} {G(flops, cpu),10}");
}
return 0;

double Time(Action run)
{
    run(); // warm-up (CLBlast compiles its kernels on first use)
    double best = double.MaxValue;
    var all = Stopwatch.StartNew();
    int calls = 0;
    while (all.Elapsed.TotalSeconds < seconds || calls < 3)
    {
        var t = Stopwatch.StartNew();
        run();
        best = Math.Min(best, t.Elapsed.TotalSeconds);
        calls++;
    }
    return best;
}
