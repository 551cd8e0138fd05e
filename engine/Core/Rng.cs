using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Engine.Core;

/// <summary>
/// The engine's random generator: xoshiro256** seeded through splitmix64. Small, fast, and its
/// whole state fits in 32 bytes, so snapshots carry it and a resumed run draws the same numbers.
/// The bulk fills (<see cref="FillGaussian"/>, <see cref="FillUniform"/>) draw exactly what the
/// one-value calls would, with the state held in registers.
/// </summary>
public sealed class Rng
{
    private Xoshiro _state;

    public Rng(ulong seed) => Seed(seed);

    public void Seed(ulong seed)
    {
        ulong x = seed;
        _state = new Xoshiro { S0 = SplitMix(ref x), S1 = SplitMix(ref x), S2 = SplitMix(ref x), S3 = SplitMix(ref x) };
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64() => _state.Next();

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextFloat() => _state.NextFloat();

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => _state.NextDouble();

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 33) * (ulong)n >> 31);

    /// <summary>Normal N(mean, std), one 64-bit draw per value nearly always (see <see cref="NextStandardNormal"/>).</summary>
    public double NextGaussian(double mean = 0, double std = 1) => mean + std * NextStandardNormal();

    /// <summary>
    /// A standard normal value by Marsaglia and Tsang's ziggurat (2000) with 128 layers of equal
    /// area: one draw picks a layer (7 bits), a sign (1 bit) and a point along the layer (53 bits);
    /// about 97% of draws land inside the curve and are returned at once. The rest test the
    /// layer's wedge against exp(−x²/2), or, in the base layer, sample the tail beyond R
    /// exactly (Marsaglia's exponential rejection).
    /// </summary>
    public double NextStandardNormal() => _state.StandardNormal();

    /// <summary>dst[i] = (float)(mean + std·z) for successive standard normal draws z: the values
    /// <see cref="NextGaussian"/> would give, in order.</summary>
    public void FillGaussian(Span<float> dst, double mean, double std)
    {
        var state = _state;
        for (int i = 0; i < dst.Length; i++) dst[i] = (float)(mean + std * state.StandardNormal());
        _state = state;
    }

    /// <summary>dst[i] = min + (max − min)·u for successive <see cref="NextFloat"/> draws u (in float arithmetic).</summary>
    public void FillUniform(Span<float> dst, float min, float max)
    {
        var state = _state;
        float range = max - min;
        for (int i = 0; i < dst.Length; i++) dst[i] = min + range * state.NextFloat();
        _state = state;
    }

    /// <summary>The generator's 256-bit state and its draws; a struct, so that a bulk fill copies it
    /// into a local the JIT keeps in registers.</summary>
    private struct Xoshiro
    {
        public ulong S0, S1, S2, S3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public ulong Next()
        {
            ulong result = ulong.RotateLeft(S1 * 5, 7) * 9;
            ulong t = S1 << 17;
            S2 ^= S0; S3 ^= S1; S1 ^= S2; S0 ^= S3;
            S2 ^= t;
            S3 = ulong.RotateLeft(S3, 45);
            return result;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float NextFloat() => (int)(Next() >> 40) * (1.0f / (1 << 24)); // (int): a signed conversion, one instruction

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public double NextDouble() => (long)(Next() >> 11) * (1.0 / (1UL << 53));

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public double StandardNormal()
        {
            ulong bits = Next();
            int layer = (int)(bits & 127);
            double sign = (bits & 128) != 0 ? -1.0 : 1.0;
            double v = (long)(bits >> 11) * (1.0 / (1UL << 53)) * ZigguratX[layer];
            if (v < ZigguratX[layer + 1]) return sign * v;
            // By value in and out, so that a caller's local state is never address-taken (and stays in registers).
            (v, this) = Slow(this, layer, v);
            return sign * v;
        }

        /// <summary>|z| for the ~3% of draws outside the layers' cores: the tail beyond R (layer 0)
        /// or the wedge test, drawing a fresh layer and point when that fails. The first draw's sign
        /// bit stays the sign: it is independent of everything decided here.</summary>
        [MethodImpl(MethodImplOptions.NoInlining)]
        private static (double Value, Xoshiro State) Slow(Xoshiro s, int layer, double v)
        {
            while (true)
            {
                if (layer == 0)
                {
                    double a, b;
                    do
                    {
                        a = -Math.Log(1.0 - s.NextDouble()) / ZigguratR;
                        b = -Math.Log(1.0 - s.NextDouble());
                    }
                    while (b + b < a * a);
                    return (ZigguratR + a, s);
                }
                var f = ZigguratF;
                if (f[layer] + s.NextDouble() * (f[layer + 1] - f[layer]) < Math.Exp(-0.5 * v * v)) return (v, s);
                ulong bits = s.Next();
                layer = (int)(bits & 127);
                v = (long)(bits >> 11) * (1.0 / (1UL << 53)) * ZigguratX[layer];
                if (v < ZigguratX[layer + 1]) return (v, s);
            }
        }
    }

    // The ziggurat's layers: layer i ≥ 1 spans [0, X[i]] across and f(X[i]) to f(X[i+1]) up
    // (f(x) = exp(−x²/2)); layer 0 is [0, X[0]] × [0, f(R)] with the tail beyond R; every layer has
    // area V. R and V for 128 layers are Marsaglia and Tsang's.
    private const double ZigguratR = 3.442619855899, ZigguratV = 9.91256303526217e-3;
    private static readonly double[] ZigguratX = ZigguratLayers();
    private static readonly double[] ZigguratF = ZigguratX.Select(x => Math.Exp(-0.5 * x * x)).ToArray();

    private static double[] ZigguratLayers()
    {
        var x = new double[129];
        x[0] = ZigguratV / Math.Exp(-0.5 * ZigguratR * ZigguratR);
        x[1] = ZigguratR;
        for (int i = 1; i < 127; i++)
            x[i + 1] = Math.Sqrt(-2 * Math.Log(ZigguratV / x[i] + Math.Exp(-0.5 * x[i] * x[i])));
        x[128] = 0;
        return x;
    }

    /// <summary>Fisher–Yates shuffle.</summary>
    public void Shuffle<T>(Span<T> items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    public byte[] SaveState()
    {
        var b = new byte[32];
        SaveState(b);
        return b;
    }

    /// <summary>Write the 32-byte state into <paramref name="b"/> (no allocation).</summary>
    public void SaveState(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(b, _state.S0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], _state.S1);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], _state.S2);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], _state.S3);
    }

    public void LoadState(ReadOnlySpan<byte> b)
    {
        if (b.Length != 32) throw new EngineException($"random generator state has {b.Length} bytes, expected 32");
        _state.S0 = BinaryPrimitives.ReadUInt64LittleEndian(b);
        _state.S1 = BinaryPrimitives.ReadUInt64LittleEndian(b[8..]);
        _state.S2 = BinaryPrimitives.ReadUInt64LittleEndian(b[16..]);
        _state.S3 = BinaryPrimitives.ReadUInt64LittleEndian(b[24..]);
    }
}
