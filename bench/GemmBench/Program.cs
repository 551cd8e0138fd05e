// GEMM throughput benchmark for Engine.Cpu.Blas.Sgemm.
//
//   dotnet run -c Release --project bench/GemmBench -- [--threads 1,2] [--kernel auto|512|256|portable|all]
//                                                      [--seconds 0.5] [--clock wall|cpu] [--tsv] [--shape MxNxK[:NT]]...
//   dotnet run -c Release --project bench/GemmBench -- [--threads 1,2] [--seconds 1] --peak
//   dotnet run -c Release --project bench/GemmBench -- [--threads 1] --conv C,H,W,K,PAD,STRIDE,M[,IMAGES]...
//   dotnet run -c Release --project bench/GemmBench -- [--threads 1] [--seconds 10] --pair-blocking --shape MxNxK[:NT]...
//
// Prints GFLOP/s (2·m·n·k / best time per call) for each shape, kernel family and thread count.
// --tsv prints one "shape<TAB>threads<TAB>kernel<TAB>GFLOP/s" line per measurement (for bench/gemm.sh).
// --peak prints the FP32 peak measured by an FMA-throughput loop on 1..t threads at once.
// --conv times a convolution's products for IMAGES images (default 1) of C×H×W, a K×K kernel and M
// outputs: the forward W·im2col(x) and the weight gradient dy·im2col(x)ᵀ, with the column matrix
// built (Im2Col.Forward, then Sgemm) and packed straight from the images (Blas.SgemmIm2Col/T).
// --pair-blocking compares the family's two cache blockings (main, and large-C: each A sliver in L1,
// C walked along its rows) on each shape by alternating calls for SECONDS, each timed by the CPU
// clock; it prints each one's best and median and the median of the pairwise speed ratios, which a
// busy shared machine disturbs far less than separate runs.
// --clock cpu times with the process's CPU time instead of the wall clock: steadier on a shared
// machine, and for several threads it gives the throughput per busy core, not the speed-up.
// The default shapes are a 1024³ square, a few other squares, and the products a LeNet training
// step (batch 64) issues.
using System.Diagnostics;
using System.Globalization;
using Engine.Cpu;

var threadCounts = new List<int> { 1, Environment.ProcessorCount };
var kinds = new List<Blas.KernelKind> { Blas.KernelKind.Auto };
double seconds = 0.5;
bool cpuClock = false;
bool tsv = false;
bool pairBlocking = false;
var shapes = new List<Shape>();

for (int i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--threads":
            threadCounts = Next().Split(',').Select(int.Parse).ToList();
            break;
        case "--kernel":
            kinds = Next() switch
            {
                "auto" => [Blas.KernelKind.Auto],
                "512" => [Blas.KernelKind.Vector512],
                "256" => [Blas.KernelKind.Vector256],
                "portable" => [Blas.KernelKind.Portable],
                "all" => [Blas.KernelKind.Vector512, Blas.KernelKind.Vector256, Blas.KernelKind.Portable],
                var s => throw new ArgumentException($"unknown kernel {s}"),
            };
            break;
        case "--seconds":
            seconds = double.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--clock":
            cpuClock = Next() switch { "cpu" => true, "wall" => false, var s => throw new ArgumentException($"unknown clock {s}") };
            break;
        case "--tsv":
            tsv = true;
            break;
        case "--peak":
            return PrintPeak(threadCounts, seconds, cpuClock);
        case "--conv":
            return PrintConv(Next(), threadCounts, seconds, cpuClock);
        case "--pair-blocking":
            pairBlocking = true;
            break;
        case "--shape":
            shapes.Add(Shape.Parse(Next()));
            break;
        default:
            Console.Error.WriteLine($"unknown argument {args[i]}");
            return 2;
    }
}
threadCounts = threadCounts.Distinct().ToList();
kinds = kinds.Where(Blas.IsSupported).ToList();

if (shapes.Count == 0)
{
    shapes.AddRange(
    [
        new("square 1024", 1024, 1024, 1024),
        new("square 512", 512, 512, 512),
        new("square 256", 256, 256, 256),
        new("square 1024 TN", 1024, 1024, 1024, true, false),
        new("square 1024 NT", 1024, 1024, 1024, false, true),
        new("conv1 fwd", 20, 576, 25),
        new("conv1 wgrad", 20, 25, 576, false, true),
        new("conv2 fwd", 50, 64, 500),
        new("conv2 wgrad", 50, 500, 64, false, true),
        new("conv2 dgrad", 500, 64, 50, true, false),
        new("ip1 fwd", 64, 500, 800, false, true),
        new("ip1 wgrad", 500, 800, 64, true, false),
        new("ip1 dgrad", 64, 800, 500),
        new("ip2 fwd", 64, 10, 500, false, true),
        new("ip2 wgrad", 10, 500, 64, true, false),
        new("ip2 dgrad", 64, 500, 10),
    ]);
}

if (pairBlocking)
    return PrintPairBlocking(shapes, threadCounts[0], seconds);

if (!tsv)
{
    Console.WriteLine($"CPU: {Environment.ProcessorCount} threads; AVX-512F {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}, " +
                      $"Vector512 accelerated {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated}; auto kernel = {Blas.BestKernel}");
    Console.Write($"{"shape",-16} {"m×n×k",-16} {"op",-3}");
    foreach (var kind in kinds)
        foreach (int t in threadCounts)
            Console.Write($" {KindName(kind) + " t" + t,12}");
    Console.WriteLine("   (GFLOP/s)");
}

foreach (var s in shapes)
{
    var (a, b, c) = s.Operands();
    if (!tsv) Console.Write($"{s.Name,-16} {$"{s.M}×{s.N}×{s.K}",-16} {(s.TransA ? "T" : "N") + (s.TransB ? "T" : "N"),-3}");
    foreach (var kind in kinds)
    {
        foreach (int t in threadCounts)
        {
            Blas.ForceKernel = kind;
            WorkerPool.Threads = t;
            double best = Measure(() => Blas.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, b, 0f, c), seconds, cpuClock);
            double gflops = 2.0 * s.M * s.N * s.K / best / 1e9;
            if (tsv) Console.WriteLine(FormattableString.Invariant($"{s.Name}\t{t}\t{KindName(kind)}\t{gflops:F2}"));
            else Console.Write($" {gflops,12:F1}");
        }
    }
    if (!tsv) Console.WriteLine();
}
return 0;

// FP32 peak from an FMA-throughput loop: on each of t threads at once, 12 independent chains of
// 256-bit FMAs; prints "peak tT GFLOPS" lines (best of repeated short runs). With the CPU clock
// the time is the process's CPU time divided by t (the rate as if the t cores were all ours).
static int PrintPeak(List<int> threadCounts, double seconds, bool cpuClock)
{
    var process = Process.GetCurrentProcess();
    foreach (int t in threadCounts)
    {
        double best = 0;
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            long iters = cpuClock ? 20_000_000 : 2_000_000;
            process.Refresh();
            double cpu0 = process.TotalProcessorTime.TotalSeconds;
            var sw = Stopwatch.StartNew();
            var threads = new Thread[t];
            for (int i = 0; i < t; i++) { threads[i] = new Thread(() => Sink.Value += FmaLoop(iters)); threads[i].Start(); }
            foreach (var th in threads) th.Join();
            double elapsed = sw.Elapsed.TotalSeconds;
            if (cpuClock)
            {
                process.Refresh();
                elapsed = (process.TotalProcessorTime.TotalSeconds - cpu0) / t;
            }
            double flops = (double)iters * 12 * 16 * t; // 12 FMAs × 8 lanes × 2 flops per iteration
            best = Math.Max(best, flops / elapsed / 1e9);
        }
        Console.WriteLine(FormattableString.Invariant($"peak t{t} {best:F1}"));
    }
    return 0;
}

[System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining | System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
static float FmaLoop(long iters)
{
    var m = System.Runtime.Intrinsics.Vector256.Create(0.999999f);
    var d = System.Runtime.Intrinsics.Vector256.Create(1e-7f);
    System.Runtime.Intrinsics.Vector256<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
    for (long i = 0; i < iters; i++)
    {
        a0 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a0, m, d);
        a1 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a1, m, d);
        a2 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a2, m, d);
        a3 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a3, m, d);
        a4 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a4, m, d);
        a5 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a5, m, d);
        a6 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a6, m, d);
        a7 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a7, m, d);
        a8 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a8, m, d);
        a9 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a9, m, d);
        a10 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a10, m, d);
        a11 = System.Runtime.Intrinsics.Vector256.FusedMultiplyAdd(a11, m, d);
    }
    return System.Runtime.Intrinsics.Vector256.GetElement(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11, 0);
}

static int PrintPairBlocking(List<Shape> shapes, int threads, double seconds)
{
    WorkerPool.Threads = threads;
    var process = Process.GetCurrentProcess();
    double CpuNow() { process.Refresh(); return process.TotalProcessorTime.TotalSeconds; }
    static double Median(IEnumerable<double> x) { var o = x.Order().ToArray(); return o[o.Length / 2]; }
    long defaultThreshold = Blas.LargeCThreshold;
    long[] thresholds = [long.MaxValue, 0]; // main blocking, large-C blocking
    foreach (var s in shapes)
    {
        var (a, b, c) = s.Operands();
        var times = new[] { new List<double>(), new List<double>() };
        var clock = Stopwatch.StartNew();
        for (int round = 0; clock.Elapsed.TotalSeconds < seconds || round < 10; round++)
        {
            for (int q = 0; q < 2; q++)
            {
                int v = (q + round) % 2; // alternate which goes first
                Blas.LargeCThreshold = thresholds[v];
                double t0 = CpuNow();
                Blas.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, 1f, a, b, 0f, c);
                if (round > 0) times[v].Add((CpuNow() - t0) / threads); // round 0 warms up
            }
        }
        Blas.LargeCThreshold = defaultThreshold;
        double flop = 2.0 * s.M * s.N * s.K / 1e9;
        var ratio = times[1].Zip(times[0], (large, main) => main / large).ToList();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{s.Name,-18} t{threads}  main: best {flop / times[0].Min(),5:F1} median {flop / Median(times[0]),5:F1}   " +
            $"large-C: best {flop / times[1].Min(),5:F1} median {flop / Median(times[1]),5:F1} GFLOP/s   " +
            $"speed large-C/main: median {Median(ratio):F3}, faster in {ratio.Count(r => r > 1)}/{ratio.Count}"));
    }
    return 0;
}

static int PrintConv(string spec, List<int> threadCounts, double seconds, bool cpuClock)
{
    var v = spec.Split(',').Select(int.Parse).ToArray();
    int images = v.Length > 7 ? v[7] : 1;
    var w = new Engine.Backends.ConvWindow(v[0], v[1], v[2], v[3], v[3], v[4], v[4], v[5], v[5]);
    int m = v[6], k = w.Channels * w.KernelH * w.KernelW, n = w.OutH * w.OutW;
    var rng = new Random(1);
    float[] R(long count) { var x = new float[count]; for (long i = 0; i < count; i++) x[i] = (float)(rng.NextDouble() - 0.5); return x; }
    float[] x = R((long)images * w.ImageCount), a = R((long)m * k), dy = R((long)m * n * images), c = new float[(long)m * n * images], cols = new float[(long)k * n * images];
    double flops = 2.0 * m * n * k * images;
    foreach (int t in threadCounts)
    {
        WorkerPool.Threads = t;
        double ex = Measure(() =>
        {
            for (int i = 0; i < images; i++)
                Im2Col.Forward(x.AsSpan(i * w.ImageCount, w.ImageCount), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW,
                    w.StrideH, w.StrideW, 1, 1, cols.AsSpan(i * k * n, k * n));
            for (int i = 0; i < images; i++)
                Blas.Sgemm(false, false, m, n, k, 1f, a, k, cols.AsSpan(i * k * n, k * n), n, 0f, c.AsSpan(i * m * n, m * n), n);
        }, seconds, cpuClock);
        double im = Measure(() => Blas.SgemmIm2Col(m, 1f, a, k, x, w, 0f, c, n * images, images, w.ImageCount), seconds, cpuClock);
        double exT = Measure(() =>
        {
            for (int i = 0; i < images; i++)
            {
                Im2Col.Forward(x.AsSpan(i * w.ImageCount, w.ImageCount), w.Channels, w.Height, w.Width, w.KernelH, w.KernelW, w.PadH, w.PadW,
                    w.StrideH, w.StrideW, 1, 1, cols.AsSpan(0, k * n));
                Blas.Sgemm(false, true, m, k, n, 1f, dy.AsSpan(i * m * n, m * n), n, cols.AsSpan(0, k * n), n, 1f, a, k);
            }
        }, seconds, cpuClock);
        double imT = Measure(() => Blas.SgemmIm2ColT(m, 1f, dy, n * images, x, w, 1f, a, k, images, w.ImageCount), seconds, cpuClock);
        Console.WriteLine(FormattableString.Invariant(
            $"conv {spec} t{t}: forward explicit {flops / ex / 1e9:F1}, implicit {flops / im / 1e9:F1}; weight gradient explicit {flops / exT / 1e9:F1}, implicit {flops / imT / 1e9:F1} GFLOP/s"));
    }
    return 0;
}

static string KindName(Blas.KernelKind k) => k switch
{
    Blas.KernelKind.Vector512 => "v512",
    Blas.KernelKind.Vector256 => "v256",
    Blas.KernelKind.Portable => "v128",
    _ => "auto",
};

// Best time per call: batches of calls sized to ~2 ms (wall clock; short, so that some run
// undisturbed on a busy machine) or ~20 ms (CPU clock, whose resolution is coarser).
static double Measure(Action run, double seconds, bool cpuClock)
{
    var process = Process.GetCurrentProcess();
    double Now()
    {
        if (!cpuClock) return Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
        process.Refresh();
        return process.TotalProcessorTime.TotalSeconds;
    }
    double batch = cpuClock ? 0.02 : 0.002;
    for (int i = 0; i < 3; i++) run(); // warm up (JIT tiers, buffers)
    int reps = 1;
    while (true)
    {
        double t0 = Now();
        for (int i = 0; i < reps; i++) run();
        if (Now() - t0 > batch) break;
        reps *= 2;
    }
    // The best of at least 5 batches, however long they take (a 2048³ call is ~0.2 s: with fewer,
    // one slow time slice on a shared machine decides the figure).
    double best = double.MaxValue;
    var total = Stopwatch.StartNew();
    int batches = 0;
    do
    {
        double t0 = Now();
        for (int i = 0; i < reps; i++) run();
        best = Math.Min(best, (Now() - t0) / reps);
        batches++;
    } while (total.Elapsed.TotalSeconds < seconds || batches < 5);
    return best;
}

internal static class Sink
{
    public static float Value;
}

internal sealed record Shape(string Name, int M, int N, int K, bool TransA = false, bool TransB = false)
{
    /// <summary>A and B filled with the same random values on every run, and C.</summary>
    public (float[] A, float[] B, float[] C) Operands()
    {
        var rng = new Random(1);
        var a = new float[(long)M * K];
        var b = new float[(long)K * N];
        foreach (var arr in new[] { a, b }) for (int i = 0; i < arr.Length; i++) arr[i] = (float)(rng.NextDouble() - 0.5);
        return (a, b, new float[(long)M * N]);
    }

    // "MxNxK" or "MxNxK:TN" (op letters for A and B).
    public static Shape Parse(string s)
    {
        var parts = s.Split(':');
        var d = parts[0].Split('x').Select(int.Parse).ToArray();
        if (d.Length != 3) throw new ArgumentException($"shape {s}: want MxNxK[:NN|NT|TN|TT]");
        bool ta = parts.Length > 1 && parts[1][0] == 'T', tb = parts.Length > 1 && parts[1].Length > 1 && parts[1][1] == 'T';
        return new Shape(s, d[0], d[1], d[2], ta, tb);
    }
}
