using Engine.Core;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's TransformationParameter applied to one record (C×H×W, channel-major): optional crop,
/// optional horizontal mirror, then <c>(value − mean[c]) × scale</c>, written as float.
/// <list type="bullet">
/// <item>crop_size: the offset is random in TRAIN (uniform over every valid position) and centred
/// in TEST, as in Caffe; the output is crop×crop.</item>
/// <item>mirror: a coin flip per record in <b>both</b> phases — Caffe's behaviour (its TEST nets
/// flip at random too when the file says <c>mirror: true</c>); we keep it so nets score alike.</item>
/// <item>mean_value: one value for every channel or one per channel.</item>
/// <item>mean_file: a .binaryproto BlobProto (1×C×H×W, as compute_image_mean writes) the size of
/// the records, subtracted pixel by pixel; with crop_size the cropped window of the mean is used.</item>
/// </list>
/// Random draws come from the caller's generator, in Caffe's order: the mirror coin, then the
/// crop row, then the crop column. Used by the Data layer (IDX and LMDB).
/// </summary>
public sealed class DataTransformer
{
    private readonly float _scale;
    private readonly float[] _means;
    private readonly int _crop;
    private readonly bool _mirror;
    private readonly bool _train;
    private readonly Func<string, EngineException> _error;

    // mean_file: the mean record (C×H×W) and its shape; null without one.
    private readonly float[]? _meanFile;
    private readonly (int c, int h, int w) _meanShape;

    // (b − mean[k]) × scale for every byte value b, per mean k: the same float arithmetic as
    // computing it per pixel, looked up instead.
    private readonly float[] _byteTable;

    /// <param name="param">The layer's transform_param (null: identity).</param>
    /// <param name="phase">TRAIN crops at random, TEST in the centre.</param>
    /// <param name="error">Builds an error that names the layer.</param>
    public DataTransformer(TransformationParameter? param, Phase phase, Func<string, EngineException> error)
    {
        param ??= new TransformationParameter();
        _error = error;
        if (param.HasMeanFile && param.MeanFile.Length > 0)
        {
            if (param.MeanValue.Count > 0)
                throw error("transform_param: give mean_file or mean_value, not both");
            _meanFile = ReadMean(param.MeanFile, error, out _meanShape);
        }
        _scale = param.Scale;
        _means = param.MeanValue.Count > 0 ? param.MeanValue.ToArray() : [0f];
        _crop = checked((int)param.CropSize);
        _mirror = param.Mirror;
        _train = phase == Phase.Train;
        _byteTable = new float[_means.Length * 256];
        for (int k = 0; k < _means.Length; k++)
            for (int b = 0; b < 256; b++)
                _byteTable[k * 256 + b] = (b - _means[k]) * _scale;
    }

    public float Scale => _scale;
    public int CropSize => _crop;
    public bool Mirror => _mirror;
    public IReadOnlyList<float> MeanValues => _means;

    /// <summary>
    /// The output height and width for records of this shape; checks that the crop fits and that
    /// mean_value has one value or one per channel.
    /// </summary>
    public (int height, int width) OutputSize(int channels, int height, int width)
    {
        if (_meanFile != null && _meanShape != (channels, height, width))
            throw _error($"transform_param.mean_file is {_meanShape.c}×{_meanShape.h}×{_meanShape.w} but the records are {channels}×{height}×{width}");
        if (_means.Length != 1 && _means.Length != channels)
            throw _error($"transform_param: {_means.Length} mean_value entries for {channels}-channel data; give one value, or one per channel");
        if (_crop == 0) return (height, width);
        if (_crop > height || _crop > width)
            throw _error($"transform_param: crop_size {_crop} is larger than the {height}×{width} records");
        return (_crop, _crop);
    }

    /// <summary>Transform one uint8 record (C×H×W) into <paramref name="output"/> (C×outH×outW).</summary>
    public void Transform(ReadOnlySpan<byte> record, int channels, int height, int width, Span<float> output, Rng rng)
    {
        var (oh, ow, hOff, wOff, flip) = Place(record.Length, channels, height, width, output.Length, rng);
        if (_meanFile != null)
        {
            SubtractMeanFile(record, channels, height, width, output, oh, ow, hOff, wOff, flip);
            return;
        }
        for (int c = 0; c < channels; c++)
        {
            var table = _byteTable.AsSpan((_means.Length == 1 ? 0 : c) * 256, 256);
            for (int y = 0; y < oh; y++)
            {
                var src = record.Slice((c * height + y + hOff) * width + wOff, ow);
                var dst = output.Slice((c * oh + y) * ow, ow);
                if (flip)
                    for (int x = 0; x < ow; x++) dst[ow - 1 - x] = table[src[x]];
                else
                    for (int x = 0; x < ow; x++) dst[x] = table[src[x]];
            }
        }
    }

    /// <summary>(pixel − mean_file pixel)·scale over the crop window, for byte and float records alike.</summary>
    private void SubtractMeanFile<T>(ReadOnlySpan<T> record, int channels, int height, int width, Span<float> output,
                                     int oh, int ow, int hOff, int wOff, bool flip) where T : System.Numerics.INumberBase<T>
    {
        CheckMean(channels, height, width);
        for (int c = 0; c < channels; c++)
            for (int y = 0; y < oh; y++)
            {
                int at = (c * height + y + hOff) * width + wOff;
                var src = record.Slice(at, ow);
                var mean = _meanFile.AsSpan(at, ow);
                var dst = output.Slice((c * oh + y) * ow, ow);
                for (int x = 0; x < ow; x++) dst[flip ? ow - 1 - x : x] = (float.CreateTruncating(src[x]) - mean[x]) * _scale;
            }
    }

    /// <summary>Transform one float record (C×H×W) into <paramref name="output"/> (C×outH×outW).</summary>
    public void Transform(ReadOnlySpan<float> record, int channels, int height, int width, Span<float> output, Rng rng)
    {
        var (oh, ow, hOff, wOff, flip) = Place(record.Length, channels, height, width, output.Length, rng);
        if (_meanFile != null)
        {
            SubtractMeanFile(record, channels, height, width, output, oh, ow, hOff, wOff, flip);
            return;
        }
        for (int c = 0; c < channels; c++)
        {
            float mean = _means[_means.Length == 1 ? 0 : c];
            for (int y = 0; y < oh; y++)
            {
                var src = record.Slice((c * height + y + hOff) * width + wOff, ow);
                var dst = output.Slice((c * oh + y) * ow, ow);
                for (int x = 0; x < ow; x++) dst[flip ? ow - 1 - x : x] = (src[x] - mean) * _scale;
            }
        }
    }

    private void CheckMean(int channels, int height, int width)
    {
        if (_meanShape != (channels, height, width))
            throw _error($"transform_param.mean_file is {_meanShape.c}×{_meanShape.h}×{_meanShape.w} but the record is {channels}×{height}×{width}");
    }

    /// <summary>A mean file: a BlobProto of shape 1×C×H×W (or C×H×W), legacy dimensions or `shape`.</summary>
    private static float[] ReadMean(string path, Func<string, EngineException> error, out (int c, int h, int w) shape)
    {
        BlobProto blob;
        try { blob = Engine.IO.WeightsFile.ReadBlob(path); }
        catch (EngineException e) { throw error($"transform_param.mean_file: {e.Message}"); }
        long[] dims = blob.Shape != null && blob.Shape.Dim.Count > 0
            ? blob.Shape.Dim.ToArray()
            : [blob.Num, blob.Channels, blob.Height, blob.Width];
        if (dims.Length == 3) dims = [1, .. dims];
        if (dims.Length != 4 || dims[0] != 1 || dims.Skip(1).Any(d => d <= 0 || d > int.MaxValue))
            throw error($"transform_param.mean_file \"{path}\" has shape {string.Join("×", dims)}; expected 1×C×H×W");
        shape = ((int)dims[1], (int)dims[2], (int)dims[3]);
        long count = dims[1] * dims[2] * dims[3];
        float[] data = blob.Data.Count > 0 ? blob.Data.ToArray() : blob.DoubleData.Select(d => (float)d).ToArray();
        if (data.Length != count)
            throw error($"transform_param.mean_file \"{path}\" holds {data.Length} values for shape {string.Join("×", dims)}");
        return data;
    }

    // Sizes, crop offsets and the mirror coin for one record, drawn in Caffe's order.
    private (int oh, int ow, int hOff, int wOff, bool flip) Place(int recordLength, int channels, int height, int width, int outputLength, Rng rng)
    {
        if (recordLength != channels * height * width)
            throw new ArgumentException($"record of {recordLength} values for {channels}×{height}×{width}");
        bool flip = _mirror && rng.NextInt(2) == 1;
        int oh = height, ow = width, hOff = 0, wOff = 0;
        if (_crop > 0)
        {
            oh = ow = _crop;
            if (_train)
            {
                hOff = rng.NextInt(height - _crop + 1);
                wOff = rng.NextInt(width - _crop + 1);
            }
            else
            {
                hOff = (height - _crop) / 2;
                wOff = (width - _crop) / 2;
            }
        }
        if (outputLength != channels * oh * ow)
            throw new ArgumentException($"output of {outputLength} values for {channels}×{oh}×{ow}");
        return (oh, ow, hOff, wOff, flip);
    }
}
