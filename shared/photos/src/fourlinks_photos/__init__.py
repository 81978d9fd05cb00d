"""Evidence photos (on feedback, progress, resolutions and spot checks): what an event records of a
photo is its content hash, media type and size; the bytes live in a photo store, sealed under the
key of the person they concern, so erasing the person makes their photos unreadable."""
