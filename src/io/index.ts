export * from './image-file.ts';
