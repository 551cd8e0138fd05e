using Engine.Proto;

namespace Engine.Layers;

/// <summary>
/// Decodes Datum records with <c>encoded: true</c> (the image file's bytes in <c>data</c>, as
/// <c>engine convert --list --encoded</c> and Caffe's <c>convert_imageset -encoded</c> write them)
/// with <see cref="ImageDecoders"/> (PNG, PPM/PGM) into planar bytes, as Caffe's DataTransformer:
/// <list type="bullet">
/// <item>transform_param.force_color (or the older data_param.force_encoded_color): 3 channels,
/// B, G, R (a gray image repeated in all three);</item>
/// <item>transform_param.force_gray: 1 gray channel (OpenCV's weights for colour images);</item>
/// <item>neither: the image's own channels (1 for gray, 3 in B, G, R order for colour; alpha is
/// dropped). Both at once is an error.</item>
/// </list>
/// </summary>
public sealed class EncodedDatum
{
    private readonly int _forcedChannels;

    public EncodedDatum(TransformationParameter? transform, DataParameter? data, Func<string, EngineException> error)
    {
        bool color = (transform?.ForceColor ?? false) || (data?.ForceEncodedColor ?? false);
        bool gray = transform?.ForceGray ?? false;
        if (color && gray)
            throw error("transform_param: force_color and force_gray cannot both be true");
        _forcedChannels = color ? 3 : gray ? 1 : 0;
        Error = error;
    }

    private Func<string, EngineException> Error { get; }

    /// <summary>3 with force_color, 1 with force_gray, 0 when the image's own channels are kept.</summary>
    public int ForcedChannels => _forcedChannels;

    /// <summary>
    /// Decode the record's image into planar bytes (C×H×W). <paramref name="where"/> names the
    /// record in errors (e.g. <c>source "db": record "00000003"</c>).
    /// </summary>
    public (int channels, int height, int width, byte[] planar) Decode(Datum datum, string where)
    {
        if (datum.Data.Length == 0) throw Error($"{where} is marked encoded but holds no data bytes");
        DecodedImage image;
        try { image = ImageDecoders.Decode(datum.Data.ToByteArray()); }
        catch (UnsupportedImageException e) { throw Error($"{where} is an encoded image in a format this build cannot read: {e.Message}"); }
        catch (CorruptImageException e) { throw Error($"{where} is an encoded image that is corrupt: {e.Message}"); }
        int channels = _forcedChannels != 0 ? _forcedChannels : image.Channels;
        return (channels, image.Height, image.Width, ImageDataLayer.ToPlanar(image, channels));
    }
}
