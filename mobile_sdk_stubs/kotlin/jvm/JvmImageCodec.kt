// ImageCodec for a plain JVM (the tests, desktop tools): javax.imageio decodes and encodes, the
// metadata-extractor library reads the EXIF orientation (ImageIO ignores it).
package eu.artsnap.client.jvm

import com.drew.imaging.ImageMetadataReader
import com.drew.metadata.exif.ExifIFD0Directory
import eu.artsnap.client.DecodedPhoto
import eu.artsnap.client.ImageCodec
import eu.artsnap.client.RgbImage
import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import javax.imageio.IIOImage
import javax.imageio.ImageIO
import javax.imageio.ImageWriteParam

class JvmImageCodec : ImageCodec {
    override fun decode(bytes: ByteArray, minShorterSide: Int, minLongSide: Int): DecodedPhoto {
        val img = ImageIO.read(ByteArrayInputStream(bytes)) ?: throw IllegalArgumentException("not an image ImageIO can read")
        val argb = img.getRGB(0, 0, img.width, img.height, null, 0, img.width)
        return DecodedPhoto(RgbImage(img.width, img.height, argb), orientation(bytes))
    }

    override fun encodeJpeg(image: RgbImage, quality: Int): ByteArray {
        val buffered = BufferedImage(image.width, image.height, BufferedImage.TYPE_INT_RGB)
        buffered.setRGB(0, 0, image.width, image.height, image.argb, 0, image.width)
        val writer = ImageIO.getImageWritersByFormatName("jpeg").next()
        val out = ByteArrayOutputStream()
        ImageIO.createImageOutputStream(out).use { stream ->
            writer.output = stream
            val param = writer.defaultWriteParam.apply {
                compressionMode = ImageWriteParam.MODE_EXPLICIT
                compressionQuality = quality / 100f
            }
            writer.write(null, IIOImage(buffered, null, null), param)
            writer.dispose()
        }
        return out.toByteArray()
    }

    private fun orientation(bytes: ByteArray): Int = runCatching {
        ImageMetadataReader.readMetadata(ByteArrayInputStream(bytes), bytes.size.toLong())
            .getFirstDirectoryOfType(ExifIFD0Directory::class.java)
            ?.takeIf { it.containsTag(ExifIFD0Directory.TAG_ORIENTATION) }
            ?.getInt(ExifIFD0Directory.TAG_ORIENTATION)
    }.getOrNull() ?: 1
}
