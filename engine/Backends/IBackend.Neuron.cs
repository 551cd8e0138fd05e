namespace Engine.Backends;

/// <summary>
/// The neuron layers' primitives (layers/neuron/: AbsVal, BNLL, Clip, ELU, Exp, Log, Power,
/// PReLU, Swish, Threshold): elementwise maps, one per layer and direction, whose output may be
/// an input (in place), and PReLU's per-channel slope gradient. Each computes what the layer's
/// host code computes; the CPU backend runs that host code.
/// </summary>
public partial interface IBackend
{
    /// <summary>y = |x|.</summary>
    void AbsForward(BufferView x, BufferView y);

    /// <summary>dx = sign(x)·dy (0 at x = 0).</summary>
    void AbsBackward(BufferView x, BufferView dy, BufferView dx);

    /// <summary>y = log(1 + eˣ), as max(x, 0) + log(1 + e^−|x|).</summary>
    void BnllForward(BufferView x, BufferView y);

    /// <summary>dx = dy − dy·e^−y, from the forward output y.</summary>
    void BnllBackward(BufferView y, BufferView dy, BufferView dx);

    /// <summary>y = min(max(x, min), max); <paramref name="mask"/> (optional) receives 1 where
    /// min ≤ x ≤ max, else 0, written before y (so y may be x).</summary>
    void ClipForward(BufferView x, BufferView y, float min, float max, BufferView? mask = null);

    /// <summary>dx = dy where min ≤ x ≤ max, 0 elsewhere.</summary>
    void ClipBackward(BufferView x, BufferView dy, BufferView dx, float min, float max);

    /// <summary>y = x where x &gt; 0, α(eˣ − 1) elsewhere.</summary>
    void EluForward(BufferView x, BufferView y, float alpha);

    /// <summary>dx = dy where x &gt; 0, dy·(y + α) elsewhere.</summary>
    void EluBackward(BufferView x, BufferView y, BufferView dy, BufferView dx, float alpha);

    /// <summary>y = outerScale·e^(innerScale·x).</summary>
    void ExpForward(BufferView x, BufferView y, float innerScale, float outerScale);

    /// <summary>dx = y·dy·innerScale, from the forward output y.</summary>
    void ExpBackward(BufferView y, BufferView dy, BufferView dx, float innerScale);

    /// <summary>y = baseScale·log(scale·x + shift); <paramref name="arg"/> (optional) receives
    /// the argument scale·x + shift, written before y (so y may be x).</summary>
    void LogForward(BufferView x, BufferView y, float scale, float shift, float baseScale, BufferView? arg = null);

    /// <summary>dx = dy·k / u with u = scale·x + shift (pass the kept argument with scale 1, shift 0).</summary>
    void LogBackward(BufferView x, BufferView dy, BufferView dx, float scale, float shift, float k);

    /// <summary>y = (scale·x + shift)^power (1 for power 0); <paramref name="arg"/> (optional)
    /// receives the base scale·x + shift, written before y (so y may be x).</summary>
    void PowerForward(BufferView x, BufferView y, float power, float scale, float shift, BufferView? arg = null);

    /// <summary>dx = dy·power·scale·u^(power − 1) with u = baseScale·x + baseShift (the layer's
    /// scale and shift, or 1 and 0 with the kept base as x); 0 when power·scale is 0.</summary>
    void PowerBackward(BufferView x, BufferView dy, BufferView dx, float power, float scale, float baseScale, float baseShift);

    /// <summary>PReLU over outer × channels × dim: y = x where x &gt; 0, a_c·x elsewhere
    /// (a has one slope per channel, or one for all when <paramref name="shared"/>).</summary>
    void PReluForward(int outer, int channels, int dim, bool shared, BufferView x, BufferView a, BufferView y);

    /// <summary>dx = dy where x &gt; 0, a_c·dy elsewhere.</summary>
    void PReluBackward(int outer, int channels, int dim, bool shared, BufferView x, BufferView a, BufferView dy, BufferView dx);

    /// <summary>da_c += Σ x·dy over the elements of channel c with x ≤ 0 (one sum when shared),
    /// a deterministic reduction.</summary>
    void PReluSlopeGradient(int outer, int channels, int dim, bool shared, BufferView x, BufferView dy, BufferView da);

    /// <summary>s = σ(βx), y = x·s (s kept for backward; y may be x).</summary>
    void SwishForward(BufferView x, BufferView y, BufferView sigmoid, float beta);

    /// <summary>dx = dy·(βy + s·(1 − βy)), from the forward output y and the kept s.</summary>
    void SwishBackward(BufferView y, BufferView sigmoid, BufferView dy, BufferView dx, float beta);

    /// <summary>y = 1 where x &gt; threshold, else 0.</summary>
    void ThresholdForward(BufferView x, BufferView y, float threshold);
}
