using System.Globalization;
using Engine.Core;
using Engine.IO;
using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Caffe's WindowData layer (R-CNN fine-tuning): window_data_param.source is a window file of
/// records
/// <code>
/// # image_index
/// image_path
/// channels
/// height
/// width
/// num_windows
/// class_index overlap x1 y1 x2 y2      (num_windows lines; pixel corners, inclusive)
/// </code>
/// Images are read from root_folder + image_path (checked to exist at set-up; PNG, PPM, PGM through
/// <see cref="ImageDecoders"/>; no JPEG) and must have the height and width their record gives;
/// windows refer to the records in file order. A window with overlap ≥ fg_threshold is
/// foreground (its class must be positive); one with overlap &lt; bg_threshold is background
/// (label 0); others are not used. Each batch draws batch − ⌊batch·fg_fraction⌋ background
/// windows, then ⌊batch·fg_fraction⌋ foreground ones, uniformly with replacement. A window is cut
/// out and warped (bilinear) to crop_size × crop_size; with context_pad or crop_mode "square" the
/// region is first enlarged (square: to its longer side) so that context_pad pixels of context
/// surround it after warping, the part outside the image staying 0. mirror flips at random;
/// values are (pixel − mean)·scale with a mean_file (its centre crop_size square, shifted with the window's padding, as Caffe does) or
/// mean_value. These come from transform_param (or the old window_data_param fields). With
/// cache_images the decoded images stay in memory. Tops: data (batch × C × crop × crop; C from
/// the first record, 3 = B, G, R or 1 = gray) and label (batch).
/// </summary>
[LayerType("WindowData")]
public sealed class WindowDataLayer(LayerParameter param) : Layer(param)
{
    private readonly record struct Record(string Path, int Channels, int Height, int Width, int Line);

    private readonly record struct Window(int Image, int Label, float Overlap, int X1, int Y1, int X2, int Y2, int Line);

    private readonly List<Record> _images = [];
    private readonly List<Window> _fg = [], _bg = [];
    private readonly Dictionary<int, byte[]> _cache = [];
    private string _source = "", _root = "";
    private int _batch, _crop, _channels, _contextPad, _numFg;
    private bool _mirror, _square, _cacheImages;
    private float _scale;
    private float[] _meanValues = [];
    private byte[] _roi = [];
    private float[]? _mean;
    private int _meanH, _meanW, _meanOffH, _meanOffW;

    public override int ExactBottoms => 0;
    public override int ExactTops => 2;

    public override bool CanBackward(int bottomIndex) => false;

    /// <summary>Foreground and background windows kept from the window file.</summary>
    public (int Foreground, int Background) WindowCounts => (_fg.Count, _bg.Count);

    public override void LayerSetUp(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var p = Param.WindowDataParam ?? throw Error("window_data_param is missing; give source (a window file), batch_size and crop_size");
        if (!p.HasSource || p.Source.Length == 0) throw Error("window_data_param.source is missing; give an R-CNN window file");
        if (p.BatchSize == 0 || p.BatchSize > int.MaxValue) throw Error($"window_data_param.batch_size {p.BatchSize} must be positive");
        if (p.FgFraction < 0 || p.FgFraction > 1) throw Error($"window_data_param.fg_fraction {p.FgFraction} must be in [0, 1]");
        _square = p.CropMode switch
        {
            "warp" => false,
            "square" => true,
            _ => throw Error($"window_data_param.crop_mode \"{p.CropMode}\" is neither \"warp\" nor \"square\""),
        };
        var tp = EffectiveTransform(p);
        if (tp.CropSize == 0) throw Error("crop_size must be positive (transform_param.crop_size, or window_data_param.crop_size): windows are warped to crop_size × crop_size");
        if (tp.CropSize > 65536) throw Error($"crop_size {tp.CropSize} is too large");
        _crop = (int)tp.CropSize;
        if (p.ContextPad > 0 && 2L * p.ContextPad >= _crop)
            throw Error($"window_data_param.context_pad {p.ContextPad} leaves no room in crop_size {_crop} (needs 2·context_pad < crop_size)");
        _contextPad = (int)p.ContextPad;
        _batch = (int)p.BatchSize;
        _numFg = (int)(_batch * p.FgFraction);
        _mirror = tp.Mirror;
        _scale = tp.Scale;
        _cacheImages = p.CacheImages;
        _source = p.Source;
        _root = p.RootFolder;
        ReadWindowFile(p.FgThreshold, p.BgThreshold);
        _channels = _images[0].Channels;

        if (tp.HasMeanFile && tp.MeanFile.Length > 0)
        {
            if (tp.MeanValue.Count > 0) throw Error("give mean_file or mean_value, not both");
            ReadMean(tp.MeanFile);
        }
        else if (tp.MeanValue.Count > 0)
        {
            if (tp.MeanValue.Count != 1 && tp.MeanValue.Count != _channels)
                throw Error($"transform_param.mean_value has {tp.MeanValue.Count} values; give one, or one per channel ({_channels})");
            _meanValues = tp.MeanValue.Count == 1 ? Enumerable.Repeat(tp.MeanValue[0], _channels).ToArray() : tp.MeanValue.ToArray();
        }
        if (_batch - _numFg > 0 && _bg.Count == 0)
            throw Error($"the window file \"{_source}\" has no background windows (overlap < bg_threshold {p.BgThreshold}), but each batch takes {_batch - _numFg}");
        if (_numFg > 0 && _fg.Count == 0)
            throw Error($"the window file \"{_source}\" has no foreground windows (overlap ≥ fg_threshold {p.FgThreshold}), but each batch takes {_numFg}");
        Log.Info($"WindowData layer \"{Name}\": {_images.Count} images, {_fg.Count} foreground and {_bg.Count} background windows from {_source}; " +
                 $"batch {_batch} ({_numFg} foreground), {_channels}×{_crop}×{_crop}, crop_mode {p.CropMode}, context_pad {_contextPad}", "window_data_layer.cpp");
    }

    private TransformationParameter EffectiveTransform(WindowDataParameter p)
    {
        var tp = Param.TransformParam?.Clone() ?? new TransformationParameter();
        void Clash(string field) => throw Error($"{field} is given both in window_data_param (Caffe's old place) and in transform_param; keep the transform_param one");
        if (p.HasScale) { if (tp.HasScale && tp.Scale != p.Scale) Clash("scale"); tp.Scale = p.Scale; }
        if (p.HasMeanFile) { if (tp.HasMeanFile && tp.MeanFile != p.MeanFile) Clash("mean_file"); tp.MeanFile = p.MeanFile; }
        if (p.HasCropSize) { if (tp.HasCropSize && tp.CropSize != p.CropSize) Clash("crop_size"); tp.CropSize = p.CropSize; }
        if (p.HasMirror) { if (tp.HasMirror && tp.Mirror != p.Mirror) Clash("mirror"); tp.Mirror = p.Mirror; }
        return tp;
    }

    private void ReadMean(string path)
    {
        BlobProto blob;
        try { blob = WeightsFile.ReadBlob(path); }
        catch (EngineException e) { throw Error($"mean_file: {e.Message}"); }
        long[] dims = blob.Shape != null && blob.Shape.Dim.Count > 0 ? blob.Shape.Dim.ToArray() : [blob.Num, blob.Channels, blob.Height, blob.Width];
        if (dims.Length == 3) dims = [1, .. dims];
        if (dims.Length != 4 || dims[0] != 1 || dims[1] != _channels || dims[2] < _crop || dims[3] < _crop || dims[2] > 65536 || dims[3] > 65536)
            throw Error($"mean_file \"{path}\" has shape {string.Join("×", dims)}; expected 1×{_channels}×H×W with H, W ≥ crop_size {_crop}");
        _meanH = (int)dims[2];
        _meanW = (int)dims[3];
        _mean = blob.Data.Count > 0 ? blob.Data.ToArray() : blob.DoubleData.Select(d => (float)d).ToArray();
        if (_mean.Length != _channels * _meanH * _meanW)
            throw Error($"mean_file \"{path}\" holds {_mean.Length} values for shape {string.Join("×", dims)}");
        _meanOffH = (_meanH - _crop) / 2;
        _meanOffW = (_meanW - _crop) / 2;
    }

    private void ReadWindowFile(float fgThreshold, float bgThreshold)
    {
        string[] text;
        try { text = File.ReadAllLines(_source); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(File.Exists(_source) || Directory.Exists(_source)
                ? $"cannot read the window file \"{_source}\": {e.Message}"
                : $"the window file \"{_source}\" does not exist{InputFile.WhereRelative(_source)}");
        }
        var tokens = new List<(string text, int line)>();
        for (int i = 0; i < text.Length; i++)
            foreach (var t in text[i].Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries)) tokens.Add((t, i + 1));
        int at = 0;
        string Where(int line) => $"window file \"{_source}\" line {line}";
        (string text, int line) Next(string what)
        {
            if (at == tokens.Count)
                throw Error($"{Where(text.Length)}: the file ends where {what} was expected");
            return tokens[at++];
        }
        int Int(string what, int min)
        {
            var (t, line) = Next(what);
            if (!int.TryParse(t, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) || v < min)
                throw Error($"{Where(line)}: {what} \"{t}\" is not an integer ≥ {min}");
            return v;
        }
        float Float(string what)
        {
            var (t, line) = Next(what);
            if (!float.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out float v) || !float.IsFinite(v))
                throw Error($"{Where(line)}: {what} \"{t}\" is not a number");
            return v;
        }

        while (at < tokens.Count)
        {
            var (hash, hashLine) = Next("#");
            if (hash != "#") throw Error($"{Where(hashLine)}: expected \"# image_index\" to start an image record, found \"{hash}\"");
            Int("the image index", 0);
            var (path, pathLine) = Next("the image path");
            int channels = Int("the channel count", 1);
            if (channels != 1 && channels != 3) throw Error($"{Where(pathLine + 1)}: {channels} channels; images have 1 (gray) or 3 (colour)");
            if (_images.Count > 0 && channels != _images[0].Channels)
                throw Error($"{Where(pathLine + 1)}: {channels} channels, but the first image has {_images[0].Channels}");
            int height = Int("the image height", 1), width = Int("the image width", 1);
            int image = _images.Count;
            // Checked now rather than when a window of the image is first drawn.
            if (!File.Exists(_root + path)) throw Error($"{Where(pathLine)}: image \"{_root + path}\" does not exist{InputFile.WhereRelative(_root + path)}");
            _images.Add(new Record(path, channels, height, width, pathLine));
            int windows = Int("the window count", 0);
            for (int w = 0; w < windows; w++)
            {
                int line = at < tokens.Count ? tokens[at].line : text.Length;
                int label = Int("the class index", 0);
                float overlap = Float("the overlap");
                int x1 = Int("x1", int.MinValue), y1 = Int("y1", int.MinValue), x2 = Int("x2", int.MinValue), y2 = Int("y2", int.MinValue);
                if (x1 < 0 || y1 < 0 || x1 > x2 || y1 > y2 || x2 >= width || y2 >= height)
                    throw Error($"{Where(line)}: window ({x1}, {y1})–({x2}, {y2}) is not inside the {width}×{height} (width×height) image \"{path}\"");
                if (overlap >= fgThreshold)
                {
                    if (label <= 0) throw Error($"{Where(line)}: a foreground window (overlap {overlap} ≥ fg_threshold {fgThreshold}) needs a class index > 0, got {label}");
                    _fg.Add(new Window(image, label, overlap, x1, y1, x2, y2, line));
                }
                else if (overlap < bgThreshold)
                    _bg.Add(new Window(image, 0, 0, x1, y1, x2, y2, line));
            }
        }
        if (_images.Count == 0) throw Error($"the window file \"{_source}\" has no image records");
    }

    public override void Reshape(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        top[0].Reshape(_batch, _channels, _crop, _crop);
        top[1].Reshape(_batch);
    }

    public override void Forward(IReadOnlyList<Blob> bottom, IReadOnlyList<Blob> top)
    {
        var data = top[0].Data;
        var labels = top[1].Data;
        data.Clear();
        int item = 0;
        for (int isFg = 0; isFg < 2; isFg++)
        {
            var pool = isFg == 1 ? _fg : _bg;
            int count = isFg == 1 ? _numFg : _batch - _numFg;
            for (int k = 0; k < count; k++, item++)
            {
                var w = pool[Rng.NextInt(pool.Count)];
                bool flip = _mirror && Rng.NextInt(2) == 1;
                Warp(w, flip, data.Slice(item * _channels * _crop * _crop, _channels * _crop * _crop));
                labels[item] = w.Label;
            }
        }
    }

    private byte[] Image(int index)
    {
        if (_cache.TryGetValue(index, out var cached)) return cached;
        var r = _images[index];
        string file = _root + r.Path;
        string where = $"window file \"{_source}\" line {r.Line}: image \"{file}\"";
        byte[] bytes;
        try { bytes = File.ReadAllBytes(file); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Error(File.Exists(file) ? $"{where} cannot be read: {e.Message}" : $"{where} does not exist");
        }
        DecodedImage img;
        try { img = ImageDecoders.Decode(bytes); }
        catch (UnsupportedImageException e)
        {
            bool jpeg = bytes.Length > 2 && bytes[0] == 0xFF && bytes[1] == 0xD8;
            throw Error(jpeg ? $"{where} is a JPEG; JPEG is not supported (PNG, PPM, PGM are): convert it, e.g. to PNG" : $"{where} has an unsupported format: {e.Message}");
        }
        catch (CorruptImageException e) { throw Error($"{where} is corrupt: {e.Message}"); }
        if (img.Height != r.Height || img.Width != r.Width)
            throw Error($"{where} is {img.Height}×{img.Width} (height×width) but the window file says {r.Height}×{r.Width}");
        var planar = ImageDataLayer.ToPlanar(img, _channels);
        if (_cacheImages) _cache[index] = planar;
        return planar;
    }

    // Caffe's window geometry: the (context-padded, possibly square) region clipped to the image,
    // warped so that the full region would fill crop × crop, placed at its padding offset.
    private void Warp(Window w, bool flip, Span<float> output)
    {
        var r = _images[w.Image];
        var img = Image(w.Image);
        int x1 = w.X1, y1 = w.Y1, x2 = w.X2, y2 = w.Y2;
        int outH = _crop, outW = _crop, padH = 0, padW = 0;
        if (_contextPad > 0 || _square)
        {
            float contextScale = _crop / (float)(_crop - 2 * _contextPad);
            float halfH = (y2 - y1 + 1) / 2f, halfW = (x2 - x1 + 1) / 2f;
            float cx = x1 + halfW, cy = y1 + halfH;
            if (_square) halfH = halfW = Math.Max(halfH, halfW);
            x1 = (int)MathF.Round(cx - halfW * contextScale, MidpointRounding.AwayFromZero);
            x2 = (int)MathF.Round(cx + halfW * contextScale, MidpointRounding.AwayFromZero);
            y1 = (int)MathF.Round(cy - halfH * contextScale, MidpointRounding.AwayFromZero);
            y2 = (int)MathF.Round(cy + halfH * contextScale, MidpointRounding.AwayFromZero);
            int unclippedH = y2 - y1 + 1, unclippedW = x2 - x1 + 1;
            int padX1 = Math.Max(0, -x1), padY1 = Math.Max(0, -y1);
            int padX2 = Math.Max(0, x2 - r.Width + 1), padY2 = Math.Max(0, y2 - r.Height + 1);
            x1 += padX1; x2 -= padX2; y1 += padY1; y2 -= padY2;
            float scaleX = _crop / (float)unclippedW, scaleY = _crop / (float)unclippedH;
            outW = (int)MathF.Round((x2 - x1 + 1) * scaleX, MidpointRounding.AwayFromZero);
            outH = (int)MathF.Round((y2 - y1 + 1) * scaleY, MidpointRounding.AwayFromZero);
            padX1 = (int)MathF.Round(padX1 * scaleX, MidpointRounding.AwayFromZero);
            padX2 = (int)MathF.Round(padX2 * scaleX, MidpointRounding.AwayFromZero);
            padY1 = (int)MathF.Round(padY1 * scaleY, MidpointRounding.AwayFromZero);
            padH = padY1;
            padW = flip ? padX2 : padX1;   // the padding is mirrored with the window
            outH = Math.Max(1, Math.Min(outH, _crop - padH));
            outW = Math.Max(1, Math.Min(outW, _crop - padW));
        }

        int roiH = y2 - y1 + 1, roiW = x2 - x1 + 1, plane = r.Height * r.Width;
        int roiSize = _channels * roiH * roiW;
        if (_roi.Length < roiSize) _roi = new byte[roiSize];
        var roi = _roi;
        for (int c = 0; c < _channels; c++)
            for (int y = 0; y < roiH; y++)
                img.AsSpan(c * plane + (y1 + y) * r.Width + x1, roiW).CopyTo(roi.AsSpan((c * roiH + y) * roiW, roiW));
        var warped = roiH == outH && roiW == outW ? roi : ImageDataLayer.Resize(roi, _channels, roiH, roiW, outH, outW);

        for (int c = 0; c < _channels; c++)
            for (int h = 0; h < outH; h++)
                for (int x = 0; x < outW; x++)
                {
                    float pixel = warped[(c * outH + h) * outW + (flip ? outW - 1 - x : x)];
                    float mean = _mean != null ? _mean[(c * _meanH + h + _meanOffH + padH) * _meanW + x + _meanOffW + padW]
                        : _meanValues.Length > 0 ? _meanValues[c] : 0;
                    output[(c * _crop + h + padH) * _crop + x + padW] = (pixel - mean) * _scale;
                }
    }
}
