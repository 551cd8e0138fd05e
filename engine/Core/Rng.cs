using System.Buffers.Binary;

namespace Engine.Core;

/// <summary>
/// The engine's random generator: xoshiro256** seeded through splitmix64. Small, fast, and its
/// whole state fits in 32 bytes, so snapshots carry it and a resumed run draws the same numbers.
/// </summary>
public sealed class Rng
{
    private ulong _s0, _s1, _s2, _s3;

    public Rng(ulong seed) => Seed(seed);

    public void Seed(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x); _s1 = SplitMix(ref x); _s2 = SplitMix(ref x); _s3 = SplitMix(ref x);
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0; _s3 ^= _s1; _s1 ^= _s2; _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 24 random bits.</summary>
    public float NextFloat() => (NextUInt64() >> 40) * (1.0f / (1 << 24));

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n).</summary>
    public int NextInt(int n) => (int)((NextUInt64() >> 33) * (ulong)n >> 31);

    /// <summary>Normal N(mean, std) by Box–Muller (one value per call; deterministic).</summary>
    public double NextGaussian(double mean = 0, double std = 1)
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return mean + std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
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
        BinaryPrimitives.WriteUInt64LittleEndian(b, _s0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], _s1);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], _s2);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], _s3);
    }

    public void LoadState(ReadOnlySpan<byte> b)
    {
        if (b.Length != 32) throw new EngineException($"random generator state has {b.Length} bytes, expected 32");
        _s0 = BinaryPrimitives.ReadUInt64LittleEndian(b);
        _s1 = BinaryPrimitives.ReadUInt64LittleEndian(b[8..]);
        _s2 = BinaryPrimitives.ReadUInt64LittleEndian(b[16..]);
        _s3 = BinaryPrimitives.ReadUInt64LittleEndian(b[24..]);
    }
}
