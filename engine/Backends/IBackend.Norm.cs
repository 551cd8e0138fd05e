namespace Engine.Backends;

/// <summary>What <see cref="IBackend.ChannelSum"/> adds up over each channel.</summary>
public enum ChannelReduction
{
    /// <summary>Σ a.</summary>
    Sum,
    /// <summary>Σ a·b.</summary>
    Dot,
    /// <summary>Σ (a − b[d])², b holding one centre per channel.</summary>
    SquaredDeviation,
}

/// <summary>
/// The normalisation layers' primitives (BatchNorm, Scale, Bias, MVN) and the recurrent ones
/// (LSTMUnit, LSTM, RNN). Arrays are seen as outer × channels × inner, a per-channel vector
/// holding one value per channel d.
/// </summary>
public partial interface IBackend
{
    /// <summary>result[d] = alpha·Σ_{o,i} f(a, b)[o, d, i] + beta·result[d] (beta = 0 never reads
    /// result). Deterministic: the same inputs give the same sums on every call.</summary>
    void ChannelSum(ChannelReduction op, int outer, int channels, int inner, BufferView a, BufferView? b,
        float alpha, float beta, BufferView result);

    /// <summary>y[o, d, i] = x[o, d, i]·scale[d] + shift[d] (a missing scale is 1, a missing shift 0;
    /// y may be x).</summary>
    void ChannelAffine(int outer, int channels, int inner, BufferView x, BufferView? scale, BufferView? shift, BufferView y);

    /// <summary>y[o, d, i] = (x[o, d, i] − mean[d])·invStd[d] (a missing invStd is 1; y may be x);
    /// <paramref name="copy"/>, when given, receives y too.</summary>
    void ChannelNormalize(int outer, int channels, int inner, BufferView x, BufferView mean, BufferView? invStd,
        BufferView y, BufferView? copy = null);

    /// <summary>The gradient of a normalisation by batch statistics:
    /// dx = (dy − meanDy[d] − meanDyY[d]·y)·invStd[d] (dx may be dy).</summary>
    void NormalizeBackward(int outer, int channels, int inner, BufferView dy, BufferView y, BufferView meanDy,
        BufferView meanDyY, BufferView invStd, BufferView dx);

    /// <summary>BatchNorm in training, per channel, from the batch mean and biased variance of m
    /// values: invStd = 1/√(variance + eps); the running sums meanSum ← λ·meanSum + mean,
    /// varianceSum ← λ·varianceSum + m/(m−1)·variance; the scale factor s ← λ·s + 1
    /// (λ = <paramref name="fraction"/>).</summary>
    void BatchNormStatistics(int channels, long m, float eps, float fraction, BufferView mean, BufferView variance,
        BufferView invStd, BufferView meanSum, BufferView varianceSum, BufferView scaleFactor);

    /// <summary>BatchNorm with the stored statistics: f = 1/s (0 when s is 0), mean = f·meanSum,
    /// invStd = 1/√(f·varianceSum + eps).</summary>
    void BatchNormGlobalStatistics(int channels, float eps, BufferView meanSum, BufferView varianceSum,
        BufferView scaleFactor, BufferView mean, BufferView invStd);

    /// <summary>MVN's scale: invStd = 1/(√variance + eps), elementwise.</summary>
    void MvnInverseDeviation(float eps, BufferView variance, BufferView invStd);

    /// <summary>y = cont[r]·x row by row (rows × width); a cont of 0 gives exact zeros (y may be x).</summary>
    void ContinuationScale(int rows, int width, BufferView cont, BufferView x, BufferView y);

    /// <summary>One LSTM step on n items of h units (Caffe's LSTMUnit): <paramref name="gates"/>
    /// (n × 4h pre-activations, order i, f, o, g) becomes the gate values in place;
    /// c = cont·f·cPrev + i·g (cont 0: f counts as exactly 0), hOut = o·tanh(c).</summary>
    void LstmForward(int n, int h, BufferView gates, BufferView cPrev, BufferView cont, BufferView c, BufferView hOut);

    /// <summary>The backward of <see cref="LstmForward"/>: from the gate values, cPrev, c, cont, the
    /// gradient dh for h and dcIn for c, writes the pre-activations' gradient dGates and the
    /// gradient for cPrev to dcOut (which may be dcIn).</summary>
    void LstmBackward(int n, int h, BufferView gates, BufferView cPrev, BufferView c, BufferView cont, BufferView dh,
        BufferView dcIn, BufferView dcOut, BufferView dGates);
}
