using Engine.Proto;

namespace Engine.Core;

/// <summary>
/// Weight initialisation, as Caffe's FillerParameter defines it: constant, uniform, gaussian
/// (with `sparse`), positive_unitball, xavier, msra, bilinear. fan_in = count / shape[0],
/// fan_out = count / shape[1].
/// </summary>
public static class Filler
{
    public static readonly string[] Types = ["constant", "uniform", "gaussian", "positive_unitball", "xavier", "msra", "bilinear"];

    public static void Fill(Blob blob, FillerParameter? param, Rng rng, string layerName)
    {
        param ??= new FillerParameter();
        var data = blob.Data;
        switch (param.Type)
        {
            case "constant":
                data.Fill(param.Value);
                break;
            case "uniform":
                rng.FillUniform(data, param.Min, param.Max);
                break;
            case "gaussian":
                FillGaussian(blob, param, rng, layerName);
                break;
            case "positive_unitball":
                FillPositiveUnitball(blob, rng);
                break;
            case "xavier":
                {
                    float scale = (float)Math.Sqrt(3.0 / FanNorm(blob, param, layerName));
                    rng.FillUniform(data, -scale, scale);
                    break;
                }
            case "msra":
                {
                    double std = Math.Sqrt(2.0 / FanNorm(blob, param, layerName));
                    rng.FillGaussian(data, 0, std);
                    break;
                }
            case "bilinear":
                FillBilinear(blob, layerName);
                break;
            default:
                throw new EngineException($"layer \"{layerName}\": unknown filler type \"{param.Type}\"; expected one of {string.Join(", ", Types)}");
        }
    }

    private static double FanNorm(Blob blob, FillerParameter param, string layerName)
    {
        if (blob.NumAxes == 0 || blob.Count == 0) throw new EngineException($"layer \"{layerName}\": cannot fill an empty blob");
        double fanIn = (double)blob.Count / blob.Dim(0);
        double fanOut = blob.NumAxes > 1 ? (double)blob.Count / blob.Dim(1) : blob.Count;
        return param.VarianceNorm switch
        {
            FillerParameter.Types.VarianceNorm.FanOut => fanOut,
            FillerParameter.Types.VarianceNorm.Average => (fanIn + fanOut) / 2,
            _ => fanIn,
        };
    }

    private static void FillGaussian(Blob blob, FillerParameter param, Rng rng, string layerName)
    {
        var data = blob.Data;
        rng.FillGaussian(data, param.Mean, param.Std);
        if (param.Sparse >= 0)
        {
            if (blob.NumAxes < 1) throw new EngineException($"layer \"{layerName}\": sparse gaussian filler needs a blob with at least one axis");
            // Each weight survives with probability sparse / num_outputs (the blob's first axis).
            double keep = (double)param.Sparse / blob.Dim(0);
            for (int i = 0; i < data.Length; i++)
                if (rng.NextDouble() >= keep) data[i] = 0;
        }
    }

    private static void FillPositiveUnitball(Blob blob, Rng rng)
    {
        var data = blob.Data;
        for (int i = 0; i < data.Length; i++) data[i] = rng.NextFloat();
        int rows = blob.NumAxes > 0 ? blob.Dim(0) : 1;
        int dim = rows == 0 ? 0 : data.Length / rows;
        for (int r = 0; r < rows; r++)
        {
            var row = data.Slice(r * dim, dim);
            float sum = System.Numerics.Tensors.TensorPrimitives.Sum<float>(row);
            if (sum > 0) System.Numerics.Tensors.TensorPrimitives.Divide(row, sum, row);
        }
    }

    private static void FillBilinear(Blob blob, string layerName)
    {
        if (blob.NumAxes != 4 || blob.Dim(2) != blob.Dim(3))
            throw new EngineException($"layer \"{layerName}\": bilinear filler needs a 4-D blob with square kernels, got {blob.ShapeString}");
        var data = blob.Data;
        int k = blob.Dim(3);
        int f = (k + 1) / 2;
        double c = (k - 1) / (2.0 * f);
        for (int i = 0; i < data.Length; i++)
        {
            int x = i % k, y = (i / k) % k;
            data[i] = (float)((1 - Math.Abs(x / (double)f - c)) * (1 - Math.Abs(y / (double)f - c)));
        }
    }
}
